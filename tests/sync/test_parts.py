"""A run written in many small parts (link batches, golden chunks) makes the same
registry as one written in a few large ones: the parts overlap (the next one is built
while the database writes this one), so this is where an ordering mistake would show."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.config import HubSettings
from hub.db.engine import create_engine
from hub.db.migrate import upgrade
from hub.db.models import Enrollment, Finding, Household, MatchKey, Person, SourceRecord
from hub.sync import golden, links
from tests.conftest import Databases
from tests.sync.conftest import sync_all

Snapshot = dict[str, Any]


async def _snapshot(engine: AsyncEngine) -> Snapshot:
    """The registry with its ids replaced by what they stand for: a person by the
    records linked to it (ids are drawn in a run's own order)."""
    async with engine.connect() as conn:
        record_of = {rid: (source, key) for rid, source, key in await conn.execute(
            select(SourceRecord.id, SourceRecord.source, SourceRecord.source_key))}
        members: dict[int, set[tuple[str, str]]] = {}
        for rid, person in await conn.execute(select(SourceRecord.id, SourceRecord.person_id)):
            if person is not None:
                members.setdefault(person, set()).add(record_of[rid])
        who = {p: frozenset(records) for p, records in members.items()}
        kk = dict((await conn.execute(select(Household.id, Household.kk))).all())
        persons = {who[row.id]: (row.nik, row.name, row.birth_date, row.alive, row.relation,
                                 row.region_code, kk.get(row.household_id))
                   for row in await conn.execute(select(Person))}
        enrolments = Counter((who[row.person_id], row.program, row.status, row.card_number)
                             for row in await conn.execute(select(Enrollment)))
        findings = Counter((row.kind, row.status, row.owner_agency,
                            who.get(row.subject_id) if row.subject_type == "person"
                            else kk.get(row.subject_id))
                           for row in await conn.execute(select(Finding)))
        keys = Counter((record_of[row.record_id], who.get(row.person_id), row.name_key,
                        row.relatives) for row in await conn.execute(select(MatchKey)))
    return {"persons": persons, "enrolments": enrolments, "findings": findings,
            "keys": keys}


async def test_small_parts_make_the_same_registry_as_large_ones(
        hub_engine: AsyncEngine, hub_settings: HubSettings, databases: Databases,
        backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert (await sync_all(hub_engine, hub_settings)).ok
    whole = await _snapshot(hub_engine)

    url = databases.url(backend)
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url)
    try:
        monkeypatch.setattr(links, "BATCH", 97)
        monkeypatch.setattr(golden, "CHUNK", 61)
        settings = hub_settings.model_copy(update={"database": hub_settings.database.model_copy(
            update={"url": url})})
        outcome = await sync_all(engine, settings)
        assert outcome.ok
        assert outcome.reconcile is not None
        assert outcome.reconcile.counts["persons_touched"] > 10 * 61  # many chunks
        parts = await _snapshot(engine)
    finally:
        await engine.dispose()
    assert len(whole["persons"]) > 500
    assert sum(whole["findings"].values()) > 0
    for table in whole:
        assert parts[table] == whole[table], table
