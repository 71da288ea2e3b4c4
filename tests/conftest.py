"""Shared fixtures: a real SQLite file and a real, throwaway PostgreSQL server
(see tests/pg_server.py for how it starts, also as root)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pytest_postgresql.executors import PostgreSQLExecutor
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.config import HubSettings
from hub.db.engine import create_engine
from hub.db.loader import load_population
from hub.db.migrate import upgrade
from hub.simulators.population_files import write_population
from tests.pg_server import create_database, throwaway_postgres

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgresql_server() -> Iterator[PostgreSQLExecutor]:
    with throwaway_postgres() as server:
        yield server


class Databases:
    """Creates fresh, empty databases on demand; each test that needs one gets its own."""

    def __init__(self, server: PostgreSQLExecutor, tmp: Path) -> None:
        self.server = server
        self.tmp = tmp
        self.count = 0

    def url(self, backend: str) -> str:
        self.count += 1
        name = f"hub_{self.count}"
        if backend == "sqlite":
            return f"sqlite+aiosqlite:///{self.tmp / name}.db"
        return create_database(self.server, name)


@pytest.fixture(scope="session")
def databases(
    postgresql_server: PostgreSQLExecutor, tmp_path_factory: pytest.TempPathFactory
) -> Databases:
    return Databases(postgresql_server, tmp_path_factory.mktemp("sqlite"))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def empty_database_url(databases: Databases, backend: str) -> str:
    """A brand-new database with no schema."""
    return databases.url(backend)


# -- a small loaded district, shared read-only by the query tests ---------------------

SMALL_DISTRICT = {"regency": "33.14", "households": 400, "seed": 7}


@pytest.fixture(scope="session")
def small_population(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("population")
    write_population(out, **SMALL_DISTRICT)
    return out


@pytest.fixture(scope="session")
async def loaded_engines(
    databases: Databases, small_population: Path
) -> AsyncIterator[dict[str, AsyncEngine]]:
    engines = {}
    for name in BACKENDS:
        url = databases.url(name)
        await asyncio.to_thread(upgrade, url)  # alembic runs its own event loop
        engine = create_engine(url)
        await load_population(engine, small_population)
        engines[name] = engine
    yield engines
    for engine in engines.values():
        await engine.dispose()


@pytest.fixture
def loaded_engine(loaded_engines: dict[str, AsyncEngine], backend: str) -> AsyncEngine:
    return loaded_engines[backend]


@pytest.fixture
def settings_for(loaded_engine: AsyncEngine) -> HubSettings:
    url = loaded_engine.url.render_as_string(hide_password=False)
    return HubSettings(database={"url": url})


@pytest.fixture
def live_server(settings_for) -> Iterator[tuple[str, str]]:
    """`slrt-hub serve` as a process on the test database, with a NATIONAL client's key:
    for the tests that need real sockets (the HTTP audit, GraphiQL in a browser)."""
    from tests.pg_server import free_port
    from tests.test_live_server import create_client, serving

    env = {**os.environ, "HUB_DATABASE__URL": settings_for.database.url}
    key = create_client(env, f"live-{free_port()}", "--role", "NATIONAL")
    with serving(env) as base:
        yield base, key
