"""Many rows into one table, fast on both databases."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ARRAY, Table, bindparam, text
from sqlalchemy.ext.asyncio import AsyncConnection


async def bulk_insert(conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]],
                      batch: int = 20_000) -> None:
    """INSERT `rows` (dicts with the same keys). On PostgreSQL one statement per batch
    unpacks the columns from arrays (unnest): thousands of rows in one round trip and
    one plan, where executemany sends a statement per row. SQLite runs in-process, where
    executemany is already cheap. Columns must be scalar (no JSON)."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        await conn.execute(table.insert(), list(rows))
        return
    names = list(rows[0])
    types = [table.c[name].type for name in names]
    arrays = ", ".join(f"CAST(:a{i} AS {t.compile(conn.dialect)}[])"
                       for i, t in enumerate(types))
    statement = text(f"INSERT INTO {table.name} ({', '.join(names)}) "
                     f"SELECT * FROM unnest({arrays})").bindparams(
        *(bindparam(f"a{i}", type_=ARRAY(t)) for i, t in enumerate(types)))
    for start in range(0, len(rows), batch):
        part = rows[start:start + batch]
        await conn.execute(statement, {f"a{i}": [row[name] for row in part]
                                       for i, name in enumerate(names)})
