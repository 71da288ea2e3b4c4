"""Reconciliation writes the registry's change history (what DCI subscribers are told):
one event per new household on the first build, then each real change, and nothing for
a run that changes nothing."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.config import HubSettings
from hub.db.models import Household, Person, RegistryEvent
from hub.domain import changes
from hub.jsontext import read_jsonl
from tests.sync.conftest import sync_all
from tests.sync.test_reconcile import _append


async def _events(engine: AsyncEngine, after: int = 0) -> list[RegistryEvent]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(RegistryEvent.__table__).where(
            RegistryEvent.id > after).order_by(RegistryEvent.id))).mappings().all())


async def test_changes_are_recorded_once_each(hub_engine: AsyncEngine,
                                              hub_settings: HubSettings,
                                              sync_population: Path,
                                              agencies: dict[str, str]) -> None:
    await sync_all(hub_engine, hub_settings)
    first = await _events(hub_engine)
    async with hub_engine.connect() as conn:
        households = (await conn.execute(select(func.count()).select_from(Household))
                      ).scalar_one()
    assert Counter(e["kind"] for e in first) == {changes.NEW_HOUSEHOLD: households}
    assert all(e["region_code"] for e in first)
    head = first[-1]["id"]

    await sync_all(hub_engine, hub_settings)
    assert await _events(hub_engine, head) == []  # nothing new, nothing said

    residents = list(read_jsonl(sync_population / "agencies" / "dukcapil.jsonl"))
    alive = [r for r in residents if r["STATUS_HIDUP"] == "HIDUP"]
    dying = alive[0]
    mover = next(r for r in alive if r["NO_KK"] != dying["NO_KK"]
                 and r["STAT_HBKEL"] != "HEAD")
    async with hub_engine.connect() as conn:
        ids = dict((await conn.execute(select(Person.nik, Person.id).where(
            Person.nik.in_([dying["NIK"], mover["NIK"]])))).all())
        households_of = dict((await conn.execute(select(Household.kk, Household.id).where(
            Household.kk.in_([dying["NO_KK"], mover["NO_KK"]])))).all())
        poorer = (await conn.execute(select(Household.id, Household.dtks_id, Household.desil)
                                     .where(Household.dtks_id.is_not(None),
                                            Household.desil < 10).limit(1))).one()
    dtks = next(r for r in read_jsonl(sync_population / "agencies" / "dtks_household.jsonl")
                if r["IDBDT"] == poorer.dtks_id)
    await _append(agencies["dtks"], "households", {**dtks, "Desil": poorer.desil + 1})
    await _append(agencies["dukcapil"], "residents",
                  {**dying, "STATUS_HIDUP": "MATI", "TGL_KMT": "01-11-2026"})
    await _append(agencies["dukcapil"], "residents", {**mover, "NO_KK": dying["NO_KK"]})
    await sync_all(hub_engine, hub_settings)
    found = {(e["kind"], e["household_id"], e["person_id"])
             for e in await _events(hub_engine, head)}
    assert (changes.DEATH, households_of[dying["NO_KK"]], ids[dying["NIK"]]) in found
    assert (changes.MEMBER_REMOVED, households_of[mover["NO_KK"]], ids[mover["NIK"]]) in found
    assert (changes.MEMBER_ADDED, households_of[dying["NO_KK"]], ids[mover["NIK"]]) in found
    assert (changes.DESIL_CHANGED, poorer.id, None) in found
