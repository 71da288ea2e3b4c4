"""The async engine and session factory, tuned per backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

import orjson
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def json_text(value: Any) -> str:
    """JSON columns (staged payloads) through orjson: several times faster than the
    standard library on the ingest path, same JSON."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str).decode()


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def ensure_sqlite_dir(url: str) -> None:
    """`sqlite:///var/hub.db` on a fresh clone: create `var/` rather than fail."""
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers (the API) run while a writer (a sync) commits.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def create_engine(
    url: str, *, echo: bool = False, pool_size: int = 20, max_overflow: int = 10
) -> AsyncEngine:
    """An engine whose pool holds as many connections as the server runs requests at
    once; see DatabaseSettings for why overflow is expensive.

    No pool_pre_ping: it costs a round trip on every checkout, a third of a keyed
    look-up. After a database restart the first query on a dead connection fails,
    SQLAlchemy invalidates the whole pool, and the next request reconnects.
    """
    pool = {"pool_size": pool_size, "max_overflow": max_overflow,
            "json_serializer": json_text, "json_deserializer": orjson.loads}
    if is_sqlite(url):
        ensure_sqlite_dir(url)
        engine = create_async_engine(url, echo=echo, **pool)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, echo=echo, pool_recycle=1800, **pool)


_readers: WeakKeyDictionary[Any, AsyncEngine] = WeakKeyDictionary()


def reader(engine: AsyncEngine) -> AsyncEngine:
    """The same engine and pool, for single-statement reads: no transaction around
    them. SQLAlchemy otherwise sends BEGIN before a connection's first statement and
    ROLLBACK when it goes back to the pool: on PostgreSQL two round trips for one
    look-up, a quarter of its cost under load. One SELECT sees one snapshot anyway.

    SQLite is left as it is: it opens no transaction for a SELECT, and resetting the
    isolation level of an aiosqlite connection on its way back to the pool needs its
    thread, which a cancelled request does not wait for (the connection leaks)."""
    if engine.dialect.name != "postgresql":
        return engine
    key = engine.sync_engine
    found = _readers.get(key)
    if found is None:
        found = engine.execution_options(isolation_level="AUTOCOMMIT")
        _readers[key] = found
    return found


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
