"""Keeping PostgreSQL's planner statistics current while a job fills tables from empty.

A table filled within minutes has not been analysed by autovacuum yet, and one filled
inside a single transaction never is until it commits. The planner then takes it for a
tiny table and answers each keyed look-up with a scan of every row: quadratic in the
job's size (a million-person reconciliation spent most of its time so). ANALYZE inside
the transaction counts the transaction's own rows; running it after 1,000 written rows
and each time the count doubles costs a handful of them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


class PlannerStatistics:
    def __init__(self, first: int = 1000) -> None:
        self._since: defaultdict[str, int] = defaultdict(int)
        self._threshold: defaultdict[str, int] = defaultdict(lambda: first)

    async def wrote(self, connection: AsyncConnection, table: str, rows: int) -> None:
        if connection.dialect.name != "postgresql" or rows <= 0:
            return
        self._since[table] += rows
        if self._since[table] >= self._threshold[table]:
            await analyze(connection, table)
            self._threshold[table] = max(self._threshold[table], self._since[table]) * 2
            self._since[table] = 0


async def analyze(connection: AsyncConnection, *tables: str) -> None:
    if connection.dialect.name == "postgresql":
        for table in tables:
            await connection.exec_driver_sql(f"ANALYZE {table}")


async def estimated_rows(connection: AsyncConnection, table: str) -> int:
    """The planner's own estimate of a table's size (0 where there is none): free,
    unlike a count."""
    if connection.dialect.name != "postgresql":
        return 0
    result = await connection.exec_driver_sql(
        "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass($1)", (table,))
    return max(0, int(result.scalar() or 0))


# What a reconciliation run writes: after a run killed mid-way, these hold its dead rows.
RECONCILED_TABLES = ("person", "household", "source_record", "match_key", "name_frequency",
                     "enrollment", "finding", "review_task", "registry_event")


async def vacuum(engine: AsyncEngine, tables: Sequence[str]) -> bool:
    """VACUUM (ANALYZE) `tables`, outside any transaction (VACUUM refuses to run inside
    one). A killed run leaves its rows dead in every table it wrote: until they are
    vacuumed, the next run's own ANALYZE counts the live rows as none, and the deferred
    foreign-key checks at its commit scan those dead pages once per checked row (a
    recovery measured at 433-661 s where a clean run takes about 50). PostgreSQL only;
    returns whether it ran."""
    if engine.dialect.name != "postgresql":
        return False
    async with engine.connect() as conn:
        autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
        for table in tables:
            await autocommit.exec_driver_sql(f'VACUUM (ANALYZE) "{table}"')
    return True
