"""Per-request context: who is asking, the audit facts the request gathers, and a fresh
set of DataLoaders, so one request's cache never serves another's (or another
client's)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from hub.access.audit import AuditEvent
from hub.access.roles import Principal
from hub.config import HubSettings
from hub.schema.loaders import Loaders


@dataclass
class HubContext:
    engine: AsyncEngine
    settings: HubSettings
    principal: Principal
    audit: AuditEvent
    request: Any = None
    response: Any = None
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.engine)
