"""Bulk-loads a generated population's ground truth as the unified registry.

Until the connectors and reconciliation fill the registry from the agencies, the demo
serves the generator's truth directly. Rows go in as batched multi-row INSERTs with the
generator's ids, so loading costs one round trip per batch, not per row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import date
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.db import figures
from hub.db.engine import session_factory
from hub.db.models import Enrollment, Household, Person
from hub.db.regions import sync_regions
from hub.domain.names import normalize_name
from hub.domain.provinces import BLOCK, placed_id, province_of
from hub.jsontext import read_jsonl

BATCH = 2000


def _batches(rows: Iterable[dict[str, Any]], size: int = BATCH) -> Iterator[list[dict[str, Any]]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


def _as_date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


class _Ids:
    """The generator's ids as the registry stores them: unchanged, or (a registry
    partitioned by province) carrying each row's province, the same rule a sync
    uses (`hub.domain.provinces`)."""

    def __init__(self) -> None:
        self.villages: dict[int, str] = {}  # household -> village, as they go in
        self.households: dict[int, int] | None = None
        self.persons: dict[int, int] | None = None

    def place(self, population_dir: Path) -> None:
        self.households, self.persons = {}, {}
        for row in read_jsonl(population_dir / "households.jsonl"):
            self.villages[row["id"]] = row["village_code"]
            self.households[row["id"]] = placed_id(
                province_of(row["kk"], row["village_code"]), row["id"])
        for row in read_jsonl(population_dir / "persons.jsonl"):
            self.persons[row["id"]] = placed_id(
                province_of(row["nik"], self.villages.get(row["household_id"])), row["id"])

    def household(self, value: int | None) -> int | None:
        return value if value is None or self.households is None else self.households[value]

    def person(self, value: int | None) -> int | None:
        return value if value is None or self.persons is None else self.persons[value]


def _household(row: dict[str, Any], ids: _Ids) -> dict[str, Any]:
    ids.villages[row["id"]] = row["village_code"]
    return {
        "id": ids.household(row["id"]), "kk": row["kk"], "village_code": row["village_code"],
        "address": row["address"], "desil": row["desil"],
        "head_person_id": ids.person(row["head_person_id"]),
    }


def _person(row: dict[str, Any], ids: _Ids) -> dict[str, Any]:
    return {
        "region_code": ids.villages.get(row["household_id"]),
        "id": ids.person(row["id"]), "nik": row["nik"],
        "household_id": ids.household(row["household_id"]),
        "name": row["name"], "name_normalized": normalize_name(row["name"]),
        "sex": row["sex"], "birth_date": _as_date(row["birth_date"]),
        "birth_place": row["birth_place"], "relation": row["relation"],
        "alive": row["alive"], "death_date": _as_date(row["death_date"]),
    }


def _enrollment(row: dict[str, Any], ids: _Ids) -> dict[str, Any]:
    return {
        "person_id": ids.person(row["person_id"]), "program": row["program"],
        "status": row["status"], "card_number": row["card_number"],
        "period_start": _as_date(row["period_start"]), "source": row["source"],
    }


async def load_population(
    engine: AsyncEngine,
    population_dir: Path,
    *,
    replace: bool = True,
    progress: Callable[[str, int], None] | None = None,
    by_province: bool = False,
) -> dict[str, int]:
    """Load households, persons and enrollments. With `replace`, earlier ones go first,
    in the same transaction, so a failed load leaves the previous registry intact.
    `by_province`: ids carry their rows' provinces (a partitioned registry)."""
    counts = {"households": 0, "persons": 0, "enrollments": 0}
    ids = _Ids()
    if by_province:
        ids.place(population_dir)
    sessions = session_factory(engine)
    async with sessions.begin() as session:
        await sync_regions(session)
        if replace:
            for model in (Enrollment, Person, Household):
                await session.execute(delete(model))
        plan = (
            ("households", Household, _household),
            ("persons", Person, _person),
            ("enrollments", Enrollment, _enrollment),
        )
        # Each person's region for access control is their household's village, set as
        # the rows go in (an UPDATE afterwards would rewrite every person row).
        for name, model, convert in plan:
            rows = (convert(r, ids) for r in read_jsonl(population_dir / f"{name}.jsonl"))
            for batch in _batches(rows):
                await session.execute(insert(model), batch)
                counts[name] += len(batch)
                if progress:
                    progress(name, len(batch))
        await figures.recount(await session.connection(), None)
        await _sequences_past_loaded_ids(await session.connection())
    if engine.dialect.name == "postgresql":
        # Fresh statistics, committed (an uncommitted ANALYZE is rolled back with its
        # transaction), so the planner knows a NIK matches one row, not fifty.
        async with engine.begin() as connection:
            await connection.exec_driver_sql("ANALYZE")
    return counts


async def _sequences_past_loaded_ids(conn: AsyncConnection) -> None:
    """The rows went in with the generator's ids, not from the sequences: move each
    sequence past the largest serial number loaded, or the next row a sync makes
    would take an id already in use."""
    if conn.dialect.name != "postgresql":
        return
    for table in ("household", "person"):
        sequence = f"pg_get_serial_sequence('{table}', 'id')"
        await conn.execute(text(
            f"SELECT setval({sequence}, GREATEST((SELECT max(id % {BLOCK}) FROM {table}), "
            f"pg_sequence_last_value(CAST({sequence} AS regclass)), 1))"))
