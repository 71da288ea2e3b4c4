"""A reconciled district (five simulated agencies synced and matched, so findings and
review tasks exist) and attackers scoped to one part of it."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.app import create_app
from hub.config import HubSettings
from hub.db.models import Finding, Person, ReviewTask, SourceRecord
from tests.access.conftest import Hub
from tests.sync.conftest import agencies, hub_engine, hub_settings, sync_all, sync_population  # noqa: F401


@dataclass
class District(Hub):
    """A hub over a reconciled district, and where its attackers stand."""

    here: str = ""  # the attackers' kecamatan
    there: str = ""  # a kecamatan outside their scope


def _kecamatan(code: str) -> str:
    return ".".join(code.split(".")[:3])


async def _kecamatans(engine: AsyncEngine) -> tuple[str, str]:
    """The attackers' kecamatan (one where a review task waits, so that the steward's
    paths have something to act on) and another one."""
    async with engine.connect() as conn:
        regions = (await conn.execute(select(Person.region_code).where(
            Person.region_code.is_not(None)).distinct())).scalars().all()
        reviewed = (await conn.execute(
            select(Person.region_code)
            .join(SourceRecord, SourceRecord.person_id == Person.id)
            .join(ReviewTask, ReviewTask.record_id == SourceRecord.id)
            .where(ReviewTask.status == "OPEN", Person.region_code.is_not(None))
            )).scalars().all()
    assert reviewed, "the reconciled district has no open review task"
    here = Counter(map(_kecamatan, reviewed)).most_common(1)[0][0]
    there = next(k for k in sorted({_kecamatan(c) for c in regions if c.count(".") >= 2})
                 if k != here)
    return here, there


@pytest.fixture
async def district(hub_engine: AsyncEngine, hub_settings: HubSettings  # noqa: F811
                   ) -> AsyncIterator[District]:
    settings = hub_settings.model_copy(update={"access": hub_settings.access.model_copy(
        update={"rate_per_minute": 100_000})})
    await sync_all(hub_engine, settings)
    here, there = await _kecamatans(hub_engine)
    opened = District(settings, hub_engine, create_app(settings, engine=hub_engine),
                      here=here, there=there)
    yield opened
    await opened.close()


async def cross_region_task(district: District, move: str = "candidate") -> dict[str, Any]:
    """An open review task whose record's person lives `here` and whose candidate lives
    `there`: a person who moved, the pair the audit found a write through. The
    candidate is moved to arrange it (or, with `move="record"`, the record's person:
    the task keeps the region it was raised in, the pair the audit read a record of
    another kecamatan through)."""
    async with district.engine.begin() as conn:
        rows = (await conn.execute(
            select(ReviewTask.id, ReviewTask.record_id, ReviewTask.candidate_person_id,
                   SourceRecord.person_id)
            .join(SourceRecord, SourceRecord.id == ReviewTask.record_id)
            .join(Person, Person.id == SourceRecord.person_id)
            .where(ReviewTask.status == "OPEN",
                   Person.region_code.like(f"{district.here}.%"))
            .order_by(ReviewTask.id))).all()
        assert rows, "the reconciled district has no open review task here"
        task = rows[0]
        village = (await conn.execute(select(Person.region_code).where(
            Person.region_code.like(f"{district.there}.%")).limit(1))).scalar_one()
        moved = task.candidate_person_id if move == "candidate" else task.person_id
        home = (await conn.execute(select(Person.region_code).where(Person.id == moved))
                ).scalar_one()
        await relocate(conn, moved, village)
        candidate = (await conn.execute(select(Person.nik).where(
            Person.id == moved))).scalar_one()
    return {"task": task.id, "record": task.record_id, "owner": task.person_id,
            "candidate": task.candidate_person_id, "candidate_nik": candidate,
            "moved": moved, "home": home}


async def relocate(conn: Any, person: int, village: str) -> None:
    """As reconciliation moves a person: the person, and the findings about them."""
    await conn.execute(update(Person).where(Person.id == person).values(region_code=village))
    await conn.execute(update(Finding).where(
        Finding.subject_type == "person", Finding.subject_id == person)
        .values(region_code=village))
