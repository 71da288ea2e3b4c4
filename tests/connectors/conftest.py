"""Agency simulators on 127.0.0.1 and fresh staging databases for connector tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.db.engine import create_engine
from hub.db.migrate import upgrade
from hub.db.models import SourceRecord
from hub.simulators.base import AgencySimulator
from hub.simulators.population_files import write_population

CONNECTOR_DISTRICT = {"regency": "52.72", "households": 250, "seed": 21}


@pytest.fixture(scope="session")
def agency_population(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("agencies")
    write_population(out, **CONNECTOR_DISTRICT)
    return out


@asynccontextmanager
async def serving(simulator: AgencySimulator) -> AsyncIterator[str]:
    """Serve a simulator on a free loopback port; yields its base URL."""
    runner = web.AppRunner(simulator.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # the port the OS picked
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
def serve() -> Callable[[AgencySimulator], object]:
    return serving


@pytest.fixture
async def staging(empty_database_url: str) -> AsyncIterator[AsyncEngine]:
    await asyncio.to_thread(upgrade, empty_database_url)
    engine = create_engine(empty_database_url)
    yield engine
    await engine.dispose()


async def staged(engine: AsyncEngine, source: str) -> dict[str, tuple[str, str | None]]:
    """source_key → (payload hash, quarantine reason) for one source."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(SourceRecord.source_key, SourceRecord.payload_hash,
                   SourceRecord.quarantine_reason).where(SourceRecord.source == source)
        )
        return {key: (digest, reason) for key, digest, reason in rows}
