"""Shared fixtures: a real SQLite file and a real, throwaway PostgreSQL server.

The PostgreSQL server is started by pytest-postgresql's executor around the machine's
`pg_ctl`. `initdb` refuses to run as root, so when the suite runs as root (CI does) the
server runs as the unprivileged `postgres` user, in a temporary directory it owns.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import stat
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pytest_postgresql.executors import PostgreSQLExecutor
from pytest_postgresql.janitor import DatabaseJanitor
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.config import HubSettings
from hub.db.engine import create_engine
from hub.db.loader import load_population
from hub.db.migrate import upgrade
from hub.simulators.population_files import write_population

BACKENDS = ("sqlite", "postgresql")
PG_SUPERUSER = "postgres"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pg_ctl_command(workdir: Path) -> str:
    """pg_ctl itself, or a wrapper that runs it as the `postgres` user when we are root."""
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl is None:
        raise RuntimeError("pg_ctl is not on PATH: install PostgreSQL 14+ server binaries")
    if os.geteuid() != 0:
        return pg_ctl
    runuser = shutil.which("runuser")
    if runuser is None:
        raise RuntimeError("running as root needs runuser to start PostgreSQL as 'postgres'")
    shutil.chown(workdir, user=PG_SUPERUSER)
    wrapper = workdir / "pg_ctl"
    wrapper.write_text(f'#!/bin/sh\nexec {runuser} -u {PG_SUPERUSER} -- {pg_ctl} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return str(wrapper)


@pytest.fixture(scope="session")
def postgresql_server() -> Iterator[PostgreSQLExecutor]:
    workdir = Path(tempfile.mkdtemp(prefix="slrt-hub-pg-"))
    executor = PostgreSQLExecutor(
        executable=_pg_ctl_command(workdir),
        host="127.0.0.1",
        port=free_port(),
        datadir=str(workdir / "data"),
        unixsocketdir=str(workdir),
        logfile=str(workdir / "postgresql.log"),
        startparams="-w",
        dbname="slrt_hub_test",
        user=PG_SUPERUSER,
        postgres_options="-c fsync=off -c synchronous_commit=off -c full_page_writes=off",
    )
    executor.start()
    try:
        yield executor
    finally:
        executor.stop()
        shutil.rmtree(workdir, ignore_errors=True)


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
        DatabaseJanitor(
            user=PG_SUPERUSER, host=self.server.host, port=self.server.port,
            dbname=name,
        ).init()
        return f"postgresql+asyncpg://{PG_SUPERUSER}@{self.server.host}:{self.server.port}/{name}"


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
