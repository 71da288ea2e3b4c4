"""What the benchmarks share: where they cache districts and write results, and fresh
databases on either backend."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

from pytest_postgresql.executors import PostgreSQLExecutor

from tests.pg_server import create_database, throwaway_postgres

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache"
RESULTS = ROOT / "bench" / "results"


def prepare(stack: ExitStack, backends: list[str]) -> PostgreSQLExecutor | None:
    """Make the folders; start a PostgreSQL (production durability) if one is asked for."""
    CACHE.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    if "postgresql" not in backends:
        return None
    return stack.enter_context(throwaway_postgres(durable=True))


def fresh_database(server: PostgreSQLExecutor | None, backend: str, name: str) -> str:
    """An empty database: a new SQLite file, or a new database on the server."""
    if backend == "sqlite":
        for leftover in CACHE.glob(f"{name}.db*"):
            leftover.unlink()
        return f"sqlite+aiosqlite:///{CACHE / name}.db"
    assert server is not None
    return create_database(server, name)


def wait_until_answers(url: str, process: subprocess.Popen, what: str,
                       seconds: float = 60) -> None:
    """Poll `url` until it answers; kill `process` and fail if it does not in time."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{what} did not start within {seconds:.0f}s")
