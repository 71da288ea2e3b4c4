"""A small district served by all five simulators, and fresh hub databases to sync it
into, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.config import HubSettings, load_settings
from hub.connectors.registry import enabled_connectors
from hub.db.engine import create_engine
from hub.db.migrate import upgrade
from hub.db.models import SourceRecord
from hub.simulators.population_files import write_population
from hub.simulators.serve import SIMULATORS, running
from hub.sync import jobs
from tests.pg_server import free_ports

SYNC_DISTRICT = {"regency": "33.14", "households": 300, "seed": 11}


@pytest.fixture(scope="session")
def sync_population(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sync-district")
    write_population(out, **SYNC_DISTRICT)
    return out


@pytest.fixture
async def agencies(sync_population: Path) -> AsyncIterator[dict[str, str]]:
    """Fresh simulators per test: records a test appends do not leak into the next."""
    ports = dict(zip(SIMULATORS, free_ports(len(SIMULATORS)), strict=True))
    async with running(sync_population, "127.0.0.1", ports) as urls:
        yield urls


@pytest.fixture
def hub_settings(empty_database_url: str, agencies: dict[str, str]) -> HubSettings:
    settings = load_settings()
    connectors = {name: conf.model_copy(update={"base_url": agencies[name]})
                  for name, conf in settings.connectors.items()}
    return settings.model_copy(update={
        "connectors": connectors,
        "database": settings.database.model_copy(update={"url": empty_database_url}),
    })


@pytest.fixture
async def hub_engine(empty_database_url: str) -> AsyncIterator[AsyncEngine]:
    await asyncio.to_thread(upgrade, empty_database_url)
    engine = create_engine(empty_database_url)
    yield engine
    await engine.dispose()


async def sync_all(engine: AsyncEngine, settings: HubSettings) -> jobs.SyncOutcome:
    return await jobs.sync_and_reconcile(engine, settings, enabled_connectors(settings))


def ground_truth(population: Path) -> dict[tuple[str, str], str]:
    with (population / "ground_truth.csv").open() as handle:
        return {(row["source"], row["source_key"]): row["person_id"]
                for row in csv.DictReader(handle) if row["person_id"]}


async def links(engine: AsyncEngine) -> dict[tuple[str, str], int]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(SourceRecord.source, SourceRecord.source_key,
                                         SourceRecord.person_id)
                                  .where(SourceRecord.person_id.is_not(None)))
        return {(source, key): person for source, key, person in rows}
