"""Many rows into, or out of, one table fast on both databases: COPY and arrays on
PostgreSQL, executemany on SQLite (in-process, where it is already cheap). Reconciliation
and the audit writer write through these."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import Table, bindparam, text, update
from sqlalchemy import types as sa_types
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.schema import CreateIndex, DropIndex

from hub.db.engine import json_text
from hub.domain.provinces import placed_id

T = TypeVar("T")
CHUNK = 500


def chunks(items: Iterable[T], size: int = CHUNK) -> Iterable[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


async def bulk_insert(conn: AsyncConnection, table: Table, rows: list[dict[str, Any]],
                      batch: int = 20_000) -> None:
    """INSERT `rows` (dicts with the same keys) into `table`.

    On PostgreSQL through COPY on the transaction's own connection: a multi-row INSERT
    costs SQLAlchemy a bound parameter per value to render and PostgreSQL a parse of
    every row, most of a million-row write. A column with a Python-side default the rows
    leave out gets that default; SQLite keeps executemany, cheap in-process."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        for part in chunks(rows, batch):
            await conn.execute(table.insert(), part)
        return
    names = list(rows[0])
    defaults: dict[str, Any] = {}
    for column in table.columns:
        if column.name in names or column.default is None or column.server_default is not None:
            continue
        if not column.default.is_scalar:
            raise ValueError(f"{table.name}.{column.name}: give it, COPY cannot call its default")
        defaults[column.name] = column.default.arg
    # Looked up once: `table.c[name]` per row and column was 10 s at a million persons.
    json = {n: table.c[n].type for n in names if isinstance(table.c[n].type, sa_types.JSON)}
    columns = [*names, *defaults]
    tail = tuple(defaults.values())
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    for part in chunks(rows, batch):
        records = [tuple(_json(json[n], row[n]) if n in json else row[n]
                         for n in names) + tail for row in part]
        await driver.copy_records_to_table(table.name, records=records, columns=columns)


async def insert_tuples(conn: AsyncConnection, table: Table, names: Sequence[str],
                        records: list[tuple[Any, ...]]) -> None:
    """INSERT rows already laid out as tuples in the order of `names` (no JSON columns,
    no defaults to fill): COPY as they are on PostgreSQL, sparing the per-row dicts that
    `bulk_insert` takes apart again."""
    if not records:
        return
    if conn.dialect.name != "postgresql":
        for part in chunks(records, 20_000):
            await conn.execute(table.insert(), [dict(zip(names, r, strict=True)) for r in part])
        return
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    await driver.copy_records_to_table(table.name, records=records, columns=list(names))


def _json(column: Any, value: Any) -> str | None:
    """As SQLAlchemy binds it: None is JSON null unless the column says SQL NULL."""
    if value is None and column.none_as_null:
        return None
    return json_text(value)


@asynccontextmanager
async def bulk_load(conn: AsyncConnection, table: Table) -> AsyncIterator[None]:
    """Fill `table` (emptied, or nearly) without its secondary indexes, then build them
    again, as PostgreSQL's manual advises for bulk loads: 2.76 million match keys took
    125 s going into seven indexes row by row, 76 s with each index built by one sort
    afterwards.

    The foreign keys stay: dropping one locks the table it refers to (the records,
    which the API reads) until the run commits. Being DDL in the run's transaction,
    a failure rolls it all back; meanwhile `table` itself is locked. Elsewhere
    (SQLite) it does nothing."""
    if conn.dialect.name != "postgresql":
        yield
        return
    indexes = sorted(table.indexes, key=lambda index: str(index.name))
    for index in indexes:
        await conn.execute(DropIndex(index))
    yield
    for index in indexes:
        await conn.execute(CreateIndex(index))


async def insert_with_ids(conn: AsyncConnection, table: Table,
                          rows: list[dict[str, Any]],
                          provinces: Sequence[str | None] | None = None) -> list[int]:
    """INSERT `rows` and return their new ids, in order. On PostgreSQL the ids are
    drawn from the table's own sequence first (placed in `provinces`' partitions when
    given, see `next_ids`) and the rows go in by COPY (which returns nothing);
    elsewhere INSERT ... RETURNING."""
    if not rows:
        return []
    if conn.dialect.name != "postgresql":
        return list((await conn.execute(
            table.insert().returning(table.c.id, sort_by_parameter_order=True), rows
        )).scalars())
    ids = await next_ids(conn, table, len(rows), provinces)
    await bulk_insert(conn, table, [{"id": i, **row} for i, row in zip(ids, rows, strict=True)])
    return ids


async def next_ids(conn: AsyncConnection, table: Table, count: int,
                   provinces: Sequence[str | None] | None = None) -> list[int]:
    """`count` ids drawn from the sequence of `table`'s id (PostgreSQL), for rows the
    caller writes later. With `provinces` (one per id, for a registry partitioned by
    province) each id carries its row's province, which puts the row in that
    province's partition (`hub.domain.provinces`)."""
    serials = list((await conn.execute(text(
        "SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"
    ), {"t": table.name, "n": count})).scalars())
    if provinces is None:
        return serials
    return [placed_id(p, s) for p, s in zip(provinces, serials, strict=True)]


async def bulk_update(conn: AsyncConnection, table: Table, key: str,
                      rows: list[dict[str, Any]], batch: int = 20_000) -> None:
    """UPDATE `table` from `rows` (each holding `key` and the columns to set)."""
    if not rows:
        return
    for part in chunks(rows, batch):
        await update_columns(conn, table, key, {n: [row[n] for row in part] for n in rows[0]})


async def update_columns(conn: AsyncConnection, table: Table, key: str,
                         columns: dict[str, list[Any]]) -> None:
    """UPDATE `table` from parallel lists, one per column (`key` among them): the form
    a caller that builds rows column by column already has.

    Row-by-row UPDATEs cost a network round trip each, most of a million-person run on
    PostgreSQL; there one statement joins the table to the columns passed as arrays
    (unnest). SQLite runs in-process, where executemany is already cheap."""
    names = list(columns)
    if not columns[key]:
        return
    if conn.dialect.name != "postgresql":
        await conn.execute(
            update(table).where(table.c[key] == bindparam(f"k_{key}"))
            .values({n: bindparam(f"k_{n}") for n in names if n != key})
            .execution_options(synchronize_session=False),
            [{f"k_{n}": value for n, value in zip(names, values, strict=True)}
             for values in zip(*columns.values(), strict=True)],
        )
        return
    types = {n: table.c[n].type for n in names}
    json = {n for n, t in types.items() if isinstance(t, sa_types.JSON)}
    arrays = ", ".join(
        f"CAST(:a{i} AS {'TEXT' if n in json else types[n].compile(conn.dialect)}[])"
        for i, n in enumerate(names))
    sets = ", ".join(f"{n} = v.{n}{'::json' if n in json else ''}" for n in names if n != key)
    statement = text(f"UPDATE {table.name} AS t SET {sets} FROM unnest({arrays}) "
                     f"AS v({', '.join(names)}) WHERE t.{key} = v.{key}")
    params = {f"a{i}": [_json(types[n], v) for v in columns[n]] if n in json else columns[n]
              for i, n in enumerate(names)}
    await conn.execute(statement.bindparams(*(
        bindparam(f"a{i}", type_=ARRAY(sa_types.Text() if n in json else types[n]))
        for i, n in enumerate(names))), params)
