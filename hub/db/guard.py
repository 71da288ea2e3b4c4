"""A guard row: inserted once, the second insert of the same key refused, in the
fewest round trips each driver allows.

A guard (a DCI message id kept against replay) is checked on every request of a
look-up endpoint. Through a SQLAlchemy transaction it costs four round trips on
PostgreSQL (BEGIN, SET LOCAL, INSERT, COMMIT) and a wait for the WAL flush; here it is
one statement in its own implicit transaction, its commit not waiting for the disk.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Table
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.db.onerow import driver_connection

_statements: dict[tuple[str, tuple[str, ...]], str] = {}


def _postgresql_insert(table: Table, columns: tuple[str, ...]) -> str:
    """`INSERT … SELECT … FROM (set_config(…)) ON CONFLICT DO NOTHING RETURNING 1`:
    set_config with is_local applies to the statement's own implicit transaction, whose
    commit then does not wait for its WAL record to reach the disk."""
    key = (table.name, columns)
    found = _statements.get(key)
    if found is None:
        names = ", ".join(f'"{column}"' for column in columns)
        values = ", ".join(f"${position}" for position in range(1, len(columns) + 1))
        found = (f'INSERT INTO "{table.name}" ({names}) SELECT {values} FROM (SELECT '
                 "set_config('synchronous_commit', 'off', true)) AS durability "
                 "ON CONFLICT DO NOTHING RETURNING 1")
        _statements[key] = found
    return found


async def insert_once(engine: AsyncEngine, table: Table, values: Mapping[str, Any]) -> bool:
    """Insert the row; False when a row with its unique key is there already.

    Not durable on PostgreSQL: a crash may forget the last instant's guards (a replay
    of one of those would be answered again). Use it for guards only, never for data."""
    if engine.dialect.driver != "asyncpg":
        try:
            async with engine.begin() as conn:
                await conn.execute(table.insert().values(**values))
        except IntegrityError:
            return False
        return True
    columns = tuple(values)
    async with driver_connection(engine) as driver:  # no transaction: it commits alone
        inserted = await driver.fetchval(_postgresql_insert(table, columns),
                                         *(values[column] for column in columns))
    return inserted is not None
