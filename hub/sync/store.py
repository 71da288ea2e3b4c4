"""Reading staged records for reconciliation: the I/O edge of the sync jobs.

Look-ups by many keys are chunked: SQLite allows a bounded number of parameters, and
PostgreSQL plans a short IN list better than a huge one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Select,
    any_,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    tuple_,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.bulk import CHUNK, chunks
from hub.db.models import PENDING_SQL, MatchKey, NameFrequency, SourceRecord

BIG_CHUNK = 20_000


def among(conn: AsyncConnection, column: Any, values: Iterable[Any]
          ) -> Iterable[tuple[list[Any], Any]]:
    """`column IN values` in as few statements as the backend allows: each batch of
    values with its condition. PostgreSQL gets each batch as one array parameter
    (`= ANY`), so a statement of 20,000 keys is compiled and planned like one of a
    single key; SQLite's bound-parameter limit keeps IN lists of 500. (An IN list is
    rendered anew, one parameter per value, at every execution: at a million persons
    that alone was minutes.)"""
    if conn.dialect.name == "postgresql":
        for batch in chunks(values, BIG_CHUNK):
            yield batch, column == any_(bindparam(None, batch, type_=ARRAY(column.type)))
    else:
        for batch in chunks(values, CHUNK):
            yield batch, column.in_(batch)


@dataclass(slots=True)
class StagedRecord:
    id: int
    source: str
    source_key: str
    normalized: dict[str, Any]
    payload_hash: str
    person_id: int | None
    link_locked: bool
    last_seen: datetime | None


_COLUMNS = (SourceRecord.id, SourceRecord.source, SourceRecord.source_key,
            SourceRecord.normalized, SourceRecord.payload_hash, SourceRecord.person_id,
            SourceRecord.link_locked, SourceRecord.last_seen)


def _staged(row: Any) -> StagedRecord:
    return StagedRecord(row[0], row[1], row[2], row[3] or {}, row[4], row[5], bool(row[6]),
                        row[7])


def _usable() -> Any:
    return SourceRecord.quarantine_reason.is_(None)


async def stream(conn: AsyncConnection, query: Select[Any]) -> AsyncIterator[StagedRecord]:
    result = await conn.stream(query.execution_options(yield_per=5000))
    async for row in result:
        yield _staged(row)


def pending_query(sources: Sequence[str], *, full: bool) -> Select[Any]:
    """Records whose current link was not computed from their current content. A full
    run takes every record a steward has not pinned."""
    query = select(*_COLUMNS).where(SourceRecord.source.in_(sources), _usable())
    if full:
        return query.where(SourceRecord.link_locked.is_(False)).order_by(SourceRecord.id)
    # Word for word the predicate of the partial index ix_source_record_pending: the
    # planners use a partial index only for a condition they can match to it.
    return query.where(text(f"({PENDING_SQL})"), SourceRecord.link_locked.is_(False)
                       ).order_by(SourceRecord.id)


async def pending(conn: AsyncConnection, sources: Sequence[str], *,
                  full: bool) -> AsyncIterator[StagedRecord]:
    """The pending records of `sources` (every unpinned one when `full`), by id.

    An incremental run finds them through the partial index. PostgreSQL's planner
    cannot know that `matched_hash <> payload_hash` holds for 1% of the rows (it guesses
    99.5%) and would read the whole table, payloads and all: so the ids are taken from
    the index with sequential scans off for that one statement, then the records."""
    if full:
        # By ranges of ids, each a primary-key range scan: one ordered query over every
        # record made PostgreSQL sort millions of wide rows on disk first (3x slower).
        query = pending_query(sources, full=True)
        low, high = (await conn.execute(select(func.min(SourceRecord.id),
                                               func.max(SourceRecord.id)))).one()
        for start in range(low or 0, (high or -1) + 1, BIG_CHUNK):
            for row in await rows(conn, query.where(
                    SourceRecord.id.between(start, start + BIG_CHUNK - 1))):
                yield _staged(row)
        return
    if conn.dialect.name != "postgresql":
        async for record in stream(conn, pending_query(sources, full=False)):
            yield record
        return
    # No try/finally: a failed statement aborts the transaction, and the setting (LOCAL
    # to it) goes with it.
    await conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    ids = list((await conn.execute(
        pending_query(sources, full=False).with_only_columns(SourceRecord.id)
    )).scalars())
    await conn.exec_driver_sql("SET LOCAL enable_seqscan TO DEFAULT")
    for _, among_ids in among(conn, SourceRecord.id, ids):
        for row in await rows(conn, select(*_COLUMNS).where(among_ids)
                              .order_by(SourceRecord.id)):
            yield _staged(row)


async def records_of_persons(conn: AsyncConnection, sources: Sequence[str],
                             persons: Iterable[int]) -> list[StagedRecord]:
    out: list[StagedRecord] = []
    for _, among_persons in among(conn, SourceRecord.person_id, persons):
        out.extend(_staged(row) for row in await rows(conn, select(*_COLUMNS).where(
            among_persons, SourceRecord.source.in_(sources), _usable())))
    return out


async def records_in_person_range(conn: AsyncConnection, sources: Sequence[str],
                                  low: int, high: int) -> list[StagedRecord]:
    return [_staged(row) for row in await rows(conn, select(*_COLUMNS).where(
        SourceRecord.person_id.between(low, high), SourceRecord.source.in_(sources),
        _usable()))]


async def records_by_key(conn: AsyncConnection, source: str,
                         keys: Iterable[str]) -> dict[str, StagedRecord]:
    out: dict[str, StagedRecord] = {}
    for _, among_keys in among(conn, SourceRecord.source_key, sorted(set(keys))):
        for row in await rows(conn, select(*_COLUMNS).where(
                SourceRecord.source == source, among_keys, _usable())):
            record = _staged(row)
            out[record.source_key] = record
    return out


# The linkage features a match key keeps, and what linking reads of a stored key;
# `Keys` holds them column by column.
KEY_COLUMNS = ("nik", "nik12", "name_norm", "name_key", "birth_date", "birth_year", "sex",
               "village_code", "district_code", "kk", "relatives")
KEYED = ("record_id", "person_id", "source", *KEY_COLUMNS)
Keys = dict[str, list[Any]]


def _columns(rows: Iterable[Sequence[Any]]) -> Keys:
    """Rows of `_keyed()` as columns: hundreds of thousands of candidates in an
    incremental run at a million persons go to Arrow column by column, and a mapping
    per row cost seconds."""
    columns = list(zip(*rows, strict=True))
    return {name: list(columns[i]) if columns else [] for i, name in enumerate(KEYED)}


async def candidate_keys(conn: AsyncConnection, *, exclude: set[int],
                         keys: dict[tuple[str, ...], set[tuple[Any, ...]]]) -> Keys:
    """Linked records sharing a blocking key with the pending ones: a superset of the
    pairs the blocking rules would form, found through indexes. `keys` maps a column
    tuple, e.g. ("name_key", "birth_year"), to the values the pending records have.

    PostgreSQL gets each key's values as arrays, one sub-query per key (the planner
    joins them to the key's index), all in one UNION ALL read straight from the driver
    (a UNION sorted every wide row on disk to drop the duplicates a set drops here);
    elsewhere they go in IN lists of 200."""
    if conn.dialect.name == "postgresql":
        parts = []
        for j, (names, values) in enumerate(sorted(keys.items())):
            if not values:
                continue
            columns = [MatchKey.__table__.c[n] for n in names]
            batch = sorted(values)
            given = func.unnest(*(
                bindparam(f"k{j}_{n}", [v[i] for v in batch], type_=ARRAY(c.type))
                for i, (n, c) in enumerate(zip(names, columns, strict=True))
            )).table_valued(*names).render_derived()
            parts.append(_keyed().where(
                tuple_(*columns).in_(select(*(given.c[n] for n in names)))))
        rows = await _fetch(conn, union_all(*parts)) if parts else []
        seen = set(exclude)
        return _columns(row for row in rows if not (row[0] in seen or seen.add(row[0])))
    found: dict[int, Sequence[Any]] = {}
    for names, values in keys.items():
        if not values:
            continue
        columns = [MatchKey.__table__.c[n] for n in names]
        for batch in chunks(sorted(values), 200):
            if len(columns) == 1:
                condition = columns[0].in_([v[0] for v in batch])
            else:  # a row-value IN list: an index seek per value on the key's index
                condition = tuple_(*columns).in_(batch)
            result = await conn.execute(_keyed().where(condition))
            for row in result:
                if row[0] not in exclude:
                    found[row[0]] = row
    return _columns(found.values())


async def rows(conn: AsyncConnection, statement: Any) -> Sequence[Sequence[Any]]:
    """The rows of `statement` as plain sequences: straight from the driver on
    PostgreSQL, where a full run reads every record twice and a SQLAlchemy Row for
    each showed in its profile; through SQLAlchemy elsewhere."""
    if conn.dialect.name == "postgresql":
        return await _fetch(conn, statement)
    return list(await conn.execute(statement))


async def _fetch(conn: AsyncConnection, statement: Any) -> list[Sequence[Any]]:
    """Rows of `statement` straight from asyncpg, in the run's transaction: hundreds of
    thousands of candidate keys made SQLAlchemy build a Row each, several seconds."""
    compiled = statement.compile(dialect=conn.dialect,
                                 compile_kwargs={"render_postcompile": True})
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    return await driver.fetch(str(compiled),
                              *(compiled.params[name] for name in compiled.positiontup or ()))


def _keyed() -> Select[Any]:
    """Match keys of linked records, with the person each record is linked to."""
    return select(*(MatchKey.__table__.c[n] for n in KEYED)).where(
        MatchKey.person_id.is_not(None))


async def anchored_keys(conn: AsyncConnection) -> Keys:
    """The pinned (steward-decided) records a full run keeps as they are."""
    result = await conn.execute(_keyed().where(MatchKey.record_id.in_(
        select(SourceRecord.id).where(SourceRecord.link_locked.is_(True)))))
    return _columns(result)


FAMILY = ("record_id", "source", "household_key", "kk", "name_key", "relatives")


async def family_keys(conn: AsyncConnection, *, households: set[str], kks: set[str],
                      every: bool = False) -> list[Sequence[Any]]:
    """Stored match keys (`FAMILY` columns) of records in these DTKS households or with
    these KK numbers; with `every`, all of them (a full run, which has deleted all
    but the pinned records' keys)."""
    columns = [MatchKey.__table__.c[n] for n in FAMILY]
    if every:
        return list(await rows(conn, select(*columns)))
    found: dict[int, Sequence[Any]] = {}  # by record: a key may be in both look-ups
    for column, values in ((MatchKey.household_key, households), (MatchKey.kk, kks)):
        for _, among_values in among(conn, column, sorted(values)):
            found |= {row[0]: row for row in await rows(conn, select(*columns).where(
                among_values))}
    return list(found.values())


async def name_frequencies(conn: AsyncConnection, names: set[str]) -> tuple[dict[str, int], int]:
    """How many match keys carry each of `names`, and how many there are in all, from
    `name_frequency` (kept in step with `match_key` by `count_names`)."""
    total = (await conn.execute(select(func.coalesce(func.sum(NameFrequency.records), 0))
                                )).scalar_one()
    counts: dict[str, int] = {}
    for _, among_names in among(conn, NameFrequency.name_norm, sorted(names)):
        result = await conn.execute(select(NameFrequency.name_norm, NameFrequency.records)
                                    .where(among_names))
        counts.update({name: count for name, count in result})
    return counts, int(total)


async def count_names(conn: AsyncConnection, change: Counter[str]) -> None:
    """Add `change` (match keys written, or removed as negative counts) to
    `name_frequency`; names no key carries any more leave it."""
    rows = [{"name_norm": name, "records": n} for name, n in sorted(change.items()) if n]
    if not rows:
        return
    upsert = (postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert)(
        NameFrequency)
    for part in chunks(rows, CHUNK):
        statement = upsert.values(part)
        await conn.execute(statement.on_conflict_do_update(
            index_elements=[NameFrequency.name_norm],
            set_={"records": NameFrequency.records + statement.excluded.records}))
    if any(n < 0 for n in change.values()):
        await conn.execute(delete(NameFrequency).where(NameFrequency.records <= 0))


async def recount_names(conn: AsyncConnection) -> None:
    """`name_frequency` from `match_key` afresh (a full run rewrote the keys)."""
    await conn.execute(delete(NameFrequency))
    await conn.execute(insert(NameFrequency).from_select(
        ["name_norm", "records"],
        select(MatchKey.name_norm, func.count()).group_by(MatchKey.name_norm)))
