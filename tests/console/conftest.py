from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.config import HubSettings
from tests.access.conftest import Hub, open_hub


@pytest.fixture
async def hub(settings_for: HubSettings, loaded_engine: AsyncEngine) -> AsyncIterator[Hub]:
    opened = await open_hub(settings_for, loaded_engine)
    yield opened
    await opened.close()
