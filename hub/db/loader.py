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

from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.db import figures
from hub.db.engine import session_factory
from hub.db.models import Enrollment, Household, Person
from hub.db.regions import sync_regions
from hub.domain.names import normalize_name
from hub.jsontext import read_jsonl

BATCH = 2000


def _batches(rows: Iterable[dict[str, Any]], size: int = BATCH) -> Iterator[list[dict[str, Any]]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


def _as_date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _household(row: dict[str, Any], villages: dict[int, str]) -> dict[str, Any]:
    villages[row["id"]] = row["village_code"]
    return {
        "id": row["id"], "kk": row["kk"], "village_code": row["village_code"],
        "address": row["address"], "desil": row["desil"], "head_person_id": row["head_person_id"],
    }


def _person(row: dict[str, Any], villages: dict[int, str]) -> dict[str, Any]:
    return {
        "region_code": villages.get(row["household_id"]),
        "id": row["id"], "nik": row["nik"], "household_id": row["household_id"],
        "name": row["name"], "name_normalized": normalize_name(row["name"]),
        "sex": row["sex"], "birth_date": _as_date(row["birth_date"]),
        "birth_place": row["birth_place"], "relation": row["relation"],
        "alive": row["alive"], "death_date": _as_date(row["death_date"]),
    }


def _enrollment(row: dict[str, Any], _: dict[int, str]) -> dict[str, Any]:
    return {
        "person_id": row["person_id"], "program": row["program"], "status": row["status"],
        "card_number": row["card_number"], "period_start": _as_date(row["period_start"]),
        "source": row["source"],
    }


async def load_population(
    engine: AsyncEngine,
    population_dir: Path,
    *,
    replace: bool = True,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Load households, persons and enrollments. With `replace`, earlier ones go first,
    in the same transaction, so a failed load leaves the previous registry intact."""
    counts = {"households": 0, "persons": 0, "enrollments": 0}
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
        villages: dict[int, str] = {}
        for name, model, convert in plan:
            rows = (convert(r, villages) for r in read_jsonl(population_dir / f"{name}.jsonl"))
            for batch in _batches(rows):
                await session.execute(insert(model), batch)
                counts[name] += len(batch)
                if progress:
                    progress(name, len(batch))
        await figures.recount(await session.connection(), None)
    if engine.dialect.name == "postgresql":
        # Fresh statistics, committed (an uncommitted ANALYZE is rolled back with its
        # transaction), so the planner knows a NIK matches one row, not fifty.
        async with engine.begin() as connection:
            await connection.exec_driver_sql("ANALYZE")
    return counts
