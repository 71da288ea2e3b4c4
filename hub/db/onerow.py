"""One read-only statement, one row (or a look-up's few) back, by the shortest path
each driver has.

The read planner's statement is the whole request's data; on PostgreSQL, SQLAlchemy's
execution machinery around it (compiled-statement cache, result metadata, the
adapter's locks) cost as much CPU as asyncpg's own execute under load. So the text is
compiled once to asyncpg's numbered parameters and run on the pooled connection's
driver directly; the pool, its checkout and its return are still SQLAlchemy's, and a
connection the server dropped is invalidated as SQLAlchemy would.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.db.engine import reader
from hub.db.outage import unavailable

_NAMED = re.compile(r"(?<![:\w]):(\w+)")


@dataclass(frozen=True)
class OneRowStatement:
    """A SQL text with `:name` parameters, in both forms."""

    sql: str
    clause: TextClause = field(init=False)
    numbered: str = field(init=False)
    names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in names:
                names.append(name)
            return f"${names.index(name) + 1}"

        object.__setattr__(self, "clause", text(self.sql))
        object.__setattr__(self, "numbered", _NAMED.sub(number, self.sql))
        object.__setattr__(self, "names", tuple(names))


@contextlib.asynccontextmanager
async def driver_connection(engine: AsyncEngine) -> AsyncIterator[Any]:
    """The pool's asyncpg connection without a SQLAlchemy Connection around it: a lone
    statement runs outside any transaction, and the pool still resets it on return."""
    pooled = await engine.raw_connection()
    try:
        yield pooled.driver_connection
    except BaseException as error:
        # A dead server, or a request cancelled mid-statement (the client left): the
        # connection may be mid-protocol, so it is closed rather than pooled again.
        if unavailable(error) or isinstance(error, asyncio.CancelledError):
            pooled.invalidate(error if isinstance(error, Exception) else None)
        raise
    finally:
        pooled.close()


async def fetch_one_row(engine: AsyncEngine, statement: OneRowStatement,
                        parameters: Mapping[str, Any]) -> Sequence[Any]:
    if engine.dialect.driver != "asyncpg":
        async with reader(engine).connect() as connection:
            return (await connection.execute(statement.clause, dict(parameters))).one()
    async with driver_connection(engine) as driver:
        row = await driver.fetchrow(statement.numbered,
                                    *(parameters[name] for name in statement.names))
    assert row is not None  # a SELECT of scalar subqueries always has its row
    return tuple(row)


async def fetch_rows(engine: AsyncEngine, statement: OneRowStatement,
                     parameters: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """A short read's rows (a look-up by an identifier), by the same path; each row
    reads by column name (`row["nik"]`, `row.get("sex")`)."""
    if engine.dialect.driver != "asyncpg":
        async with reader(engine).connect() as connection:
            return list((await connection.execute(statement.clause, dict(parameters)))
                        .mappings().all())
    async with driver_connection(engine) as driver:
        return list(await driver.fetch(statement.numbered,
                                       *(parameters[name] for name in statement.names)))
