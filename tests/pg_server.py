"""A throwaway PostgreSQL server for tests and benchmarks.

pytest-postgresql's executor drives the machine's `pg_ctl`. `initdb` refuses to run as
root, so when we are root (CI is) the server runs as the unprivileged `postgres` user,
in a temporary directory it owns.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pytest_postgresql.executors import PostgreSQLExecutor
from pytest_postgresql.janitor import DatabaseJanitor

from hub.ports import free_ports

SUPERUSER = "postgres"


def free_port() -> int:
    return free_ports(1)[0]


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
    shutil.chown(workdir, user=SUPERUSER)
    wrapper = workdir / "pg_ctl"
    wrapper.write_text(f'#!/bin/sh\nexec {runuser} -u {SUPERUSER} -- {pg_ctl} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return str(wrapper)


@contextmanager
def throwaway_postgres(*, durable: bool = False) -> Iterator[PostgreSQLExecutor]:
    """Start a server on a free loopback port; stop it and delete its files afterwards.

    Tests turn durability off (fsync, full-page writes) for speed; benchmarks keep
    production durability, with the memory and WAL settings any production server of a
    district registry is given instead of the 128 MB / 1 GB defaults meant for a laptop.
    """
    workdir = Path(tempfile.mkdtemp(prefix="slrt-hub-pg-"))
    options = ("-c shared_buffers=1GB -c max_wal_size=8GB -c work_mem=32MB "
               "-c maintenance_work_mem=256MB" if durable else
               "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
    executor = PostgreSQLExecutor(
        executable=_pg_ctl_command(workdir),
        host="127.0.0.1",
        port=free_port(),
        datadir=str(workdir / "data"),
        unixsocketdir=str(workdir),
        logfile=str(workdir / "postgresql.log"),
        startparams="-w",
        dbname="slrt_hub_test",
        user=SUPERUSER,
        postgres_options=options + " -c max_connections=200",
    )
    executor.start()
    try:
        yield executor
    finally:
        executor.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def create_database(server: PostgreSQLExecutor, name: str) -> str:
    """Create an empty database and return its async SQLAlchemy URL."""
    DatabaseJanitor(user=SUPERUSER, host=server.host, port=server.port, dbname=name).init()
    return f"postgresql+asyncpg://{SUPERUSER}@{server.host}:{server.port}/{name}"
