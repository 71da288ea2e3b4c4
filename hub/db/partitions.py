"""The national layout: `person` and `household` partitioned by province (#22).

The migrations build plain tables, the same on SQLite and PostgreSQL. A hub configured
with `database.partitions = "province"` has them rebuilt, while still empty, as
PostgreSQL tables partitioned by ranges of the id: one partition per province
(`hub.domain.provinces`) and a catch-all. Same columns, defaults, sequence, indexes and
foreign keys, so every query, migration and model is unchanged; only the KK's
uniqueness becomes one unique index per partition, which still holds across them
because a household's partition follows its KK's province.

The partitions live in their own schema, `registry_partitions`: the application's
schema keeps exactly the tables the models describe.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.domain.provinces import PROVINCES, id_range

SCHEMA = "registry_partitions"
TABLES = ("household", "person")
CATCH_ALL = "other"


class PartitionError(RuntimeError):
    """The registry cannot be laid out by province as it stands; the message says why."""


@dataclass(frozen=True)
class _Constraint:
    table: str
    name: str
    definition: str


def partition_name(table: str, province: str | None) -> str:
    return f"{table}_{'p' + province if province else CATCH_ALL}"


async def partitioned_tables(conn: AsyncConnection) -> set[str]:
    """Which of the registry's tables are partitioned already."""
    if conn.dialect.name != "postgresql":
        return set()
    rows = await conn.execute(text(
        "SELECT c.relname FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
        "WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = ANY(:t)"),
        {"t": list(TABLES)})
    return set(rows.scalars())


async def partition_registry(conn: AsyncConnection) -> list[str]:
    """Rebuild the registry's tables partitioned by province, in the caller's
    transaction; returns the tables rebuilt (none when they are already). Refuses a
    registry that holds rows: their ids carry no province, so they would all sit in
    the catch-all, and renumbering a live registry's ids is not something to do
    behind an upgrade."""
    if conn.dialect.name != "postgresql":
        raise PartitionError("partitioned tables need PostgreSQL")
    todo = [t for t in TABLES if t not in await partitioned_tables(conn)]
    if not todo:
        return []
    for table in todo:
        if (await conn.execute(text(f"SELECT EXISTS (SELECT 1 FROM {table})"))).scalar():
            raise PartitionError(
                f"{table} already holds rows; partitions = \"province\" is chosen for a new "
                "database, before its first sync (docs/scale.md, \"The registry partitioned "
                "by province\")")
    await conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
    foreign = await _foreign_keys(conn, todo)
    for key in foreign:
        await conn.execute(text(f"ALTER TABLE {key.table} DROP CONSTRAINT {key.name}"))
    for table in todo:
        await _rebuild(conn, table)
    for key in foreign:
        await conn.execute(text(
            f"ALTER TABLE {key.table} ADD CONSTRAINT {key.name} {key.definition}"))
    return todo


async def _foreign_keys(conn: AsyncConnection, tables: list[str]) -> list[_Constraint]:
    """Every foreign key from or to `tables`, as its table, name and definition."""
    rows = await conn.execute(text(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
        "FROM pg_constraint WHERE contype = 'f' AND conparentid = 0 "
        "AND (conrelid::regclass::text = ANY(:t) OR confrelid::regclass::text = ANY(:t)) "
        "ORDER BY conname"), {"t": tables})
    return [_Constraint(*row) for row in rows]


async def _rebuild(conn: AsyncConnection, table: str) -> None:
    constraints = [_Constraint(table, name, definition) for name, definition in await conn.execute(
        text("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
             "WHERE conrelid = to_regclass(:t) AND contype IN ('p', 'u') ORDER BY conname"),
        {"t": table})]
    owned = {c.name for c in constraints}
    indexes = [definition for name, definition in await conn.execute(text(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
        "AND tablename = :t ORDER BY indexname"), {"t": table}) if name not in owned]
    sequence = (await conn.execute(text("SELECT pg_get_serial_sequence(:t, 'id')"),
                                   {"t": table})).scalar()
    building = f"{table}__partitioned"
    await conn.execute(text(
        f"CREATE TABLE {building} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
        "INCLUDING STORAGE INCLUDING COMMENTS) PARTITION BY RANGE (id)"))
    if sequence:  # the id's sequence outlives the table it was made for
        await conn.execute(text(f"ALTER SEQUENCE {sequence} OWNED BY {building}.id"))
    await conn.execute(text(f"DROP TABLE {table}"))
    await conn.execute(text(f"ALTER TABLE {building} RENAME TO {table}"))
    for province in PROVINCES:
        start, end = id_range(province)
        await conn.execute(text(
            f"CREATE TABLE {SCHEMA}.{partition_name(table, province)} PARTITION OF {table} "
            f"FOR VALUES FROM ({start}) TO ({end})"))
    await conn.execute(text(
        f"CREATE TABLE {SCHEMA}.{partition_name(table, None)} PARTITION OF {table} DEFAULT"))
    for constraint in constraints:
        if constraint.definition.startswith("PRIMARY KEY"):
            await conn.execute(text(
                f"ALTER TABLE {table} ADD CONSTRAINT {constraint.name} {constraint.definition}"))
            continue
        # A unique key without the id cannot span partitions: one per partition.
        for province in (*PROVINCES, None):
            part = partition_name(table, province)
            await conn.execute(text(
                f"ALTER TABLE {SCHEMA}.{part} ADD CONSTRAINT {constraint.name}_"
                f"{part.removeprefix(table + '_')} {constraint.definition}"))
    for definition in indexes:
        await conn.execute(text(definition))
