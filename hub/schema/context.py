"""Per-request context: a fresh set of DataLoaders, so one request's cache never serves
another's (and, once access control lands, never another client's)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from hub.config import HubSettings
from hub.schema.loaders import Loaders


@dataclass
class HubContext:
    engine: AsyncEngine
    settings: HubSettings
    request: Any = None
    response: Any = None
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.engine)
