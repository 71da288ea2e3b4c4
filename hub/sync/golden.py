"""The golden phase of a reconciliation run: for each touched person, survivorship
over the records linked to it (`domain.survivorship`), its household, its enrolments,
and the finding rules (`findings`); persons left without records are removed.

Persons are processed in chunks read by id range (a full run touches every person, and
a range scan over `source_record.person_id` beats a million-key IN list), and written
with one UPDATE ... FROM per chunk and table.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db import bulk, figures
from hub.db.models import Enrollment, Household, MatchKey, Person, RegistryEvent, SourceRecord
from hub.db.regions import ensure_regions
from hub.db.statistics import PlannerStatistics
from hub.domain import changes
from hub.domain.names import normalize_name
from hub.domain.provinces import province_of
from hub.domain.regions import person_region
from hub.domain.survivorship import (
    Golden,
    ProgramFact,
    SourceFact,
    SurvivorshipRules,
    enrollments,
    golden_person,
)
from hub.sync import store
from hub.sync.findings import (
    NOTHING_HELD,
    FindingRules,
    Held,
    Lookups,
    PersonView,
    Raised,
    evaluate,
    lookups_for,
    write_findings,
)
from hub.sync.overlap import in_thread
from hub.sync.timing import Clock

CHUNK = 5000
HouseholdOf = tuple[int | None, int | None, str | None]  # (household id, desil, village)


@dataclass(frozen=True, slots=True)
class _Read:
    records: list[store.StagedRecord]
    dtks: dict[str, store.StagedRecord]  # by household key


@dataclass(frozen=True, slots=True)
class _Survived:
    by_person: dict[int, list[SourceFact]]
    dtks: dict[str, SourceFact]
    goldens: dict[int, Golden]
    programs: dict[int, list[ProgramFact]]


def _evaluate_all(views: list[PersonView], lookups: Lookups, rules: FindingRules,
                  today: date) -> list[Raised]:
    return [item for view in views for item in evaluate(view, lookups, rules, today)]


def _now() -> datetime:
    return datetime.now(UTC)


def _date(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) and value else None


def _fact(r: store.StagedRecord) -> SourceFact:
    return SourceFact(r.id, r.source, r.source_key, _seen(r.last_seen), r.normalized)


@lru_cache(maxsize=4096)
def _seen(at: datetime | None) -> str:
    """A record's last sighting as lineage shows it. Cached: the records one sync run
    staged share its timestamp, and a full run formats millions of them."""
    return at.isoformat() if at else ""


def _lineage(fact: SourceFact) -> dict[str, Any]:
    return {"source": fact.source, "source_key": fact.source_key,
            "record_id": fact.record_id, "seen_at": fact.seen_at}


class GoldenRecords:
    def __init__(self, rules: SurvivorshipRules, finding_rules: FindingRules,
                 person_sources: Sequence[str], household_sources: Sequence[str],
                 statistics: PlannerStatistics, *, by_province: bool = False) -> None:
        self.statistics = statistics
        # New households' ids carry their province (a registry partitioned by province).
        self.by_province = by_province
        self.rules = rules
        self.finding_rules = finding_rules
        self.person_sources = list(person_sources)
        self.household_sources = list(household_sources)

    async def household_changes(self, conn: AsyncConnection, *, full: bool) -> tuple[int, set[int]]:
        """Changed DTKS household rows (desil, address): their members are touched."""
        changed = [r async for r in store.pending(conn, self.household_sources, full=False)]
        touched: set[int] = set()
        if changed and not full:
            for _, among_keys in store.among(conn, MatchKey.household_key,
                                             [r.source_key for r in changed]):
                result = await conn.execute(select(MatchKey.person_id).where(
                    among_keys, MatchKey.person_id.is_not(None)))
                touched |= set(result.scalars())
        await bulk.bulk_update(conn, SourceRecord.__table__, "id", [
            {"id": r.id, "matched_hash": r.payload_hash} for r in changed])
        return len(changed), touched

    async def refresh(self, conn: AsyncConnection, persons: Iterable[int],
                      held: Held = NOTHING_HELD) -> Counter[str]:
        today = date.today()
        found: Counter[str] = Counter()
        clock = Clock()
        lap = clock.lap
        ordered = sorted(persons)
        counted: set[str | None] = set()  # villages whose figures this refresh changes
        batches = list(bulk.chunks(ordered, CHUNK))
        # A chunk's survivorship (pure Python) runs in a thread while the chunk before
        # it is written: its records are read first (they do not depend on those
        # writes), so the database and Python work side by side (`overlap`).
        survived: asyncio.Future[_Survived] | None = None
        raising: asyncio.Future[list[Raised]] | None = None
        if batches:
            survived = in_thread(self._survive, await self._read(conn, batches[0]))
        lap("read")
        try:
            for index, batch in enumerate(batches):
                assert survived is not None
                chunk = await survived
                by_person, goldens, programs = chunk.by_person, chunk.goldens, chunk.programs
                lap("survivorship")
                before = await self._states(conn, batch)
                households, new_households = await self._households(conn, goldens, by_person,
                                                                    chunk.dtks)
                lap("households")
                after = {p: changes.PersonState(h[0], bool(goldens[p].values.get("alive", True)),
                                                h[1], h[2]) for p, h in households.items()}
                counted.update(state.village_code for state in before.values())
                counted.update(h[2] for h in households.values())
                kept = [p for p, state in after.items()
                        if changes.household_kept(before.get(p), state, new_households)]
                enrolled_before = await self._enrolments(conn, kept)
                lookups = await lookups_for(conn, (f for fs in by_person.values() for f in fs),
                                            self.finding_rules.civil_registry)
                if index + 1 < len(batches):
                    survived = in_thread(self._survive,
                                          await self._read(conn, batches[index + 1]))
                lap("read")
                views = [PersonView(p, g, by_person[p], programs[p], households[p][1],
                                    person_region(households[p][2], g.values.get("village_code"),
                                                  g.values.get("nik")))
                         for p, g in goldens.items()]
                raising = in_thread(_evaluate_all, views, lookups, self.finding_rules, today)
                await self._write_persons(conn, goldens, households, existing=set(before))
                await self._write_enrollments(conn, batch, programs)
                lap("write")
                found["registry_events"] += await self._record(conn, changes.registry_changes(
                    before, after, new_households, enrolled_before,
                    {p: frozenset((e.program, e.status) for e in programs[p]) for p in kept}))
                lap("events")
                raised = await raising
                found += await write_findings(conn, batch, raised, held)
                for table, rows in (("finding", len(raised)), ("household", len(batch)),
                                    ("enrollment", sum(map(len, programs.values())))):
                    await self.statistics.wrote(conn, table, rows)
                lap("findings")
        finally:  # after a failed write, the threads in flight finish before it is raised
            running = [f for f in (survived, raising) if f is not None and not f.done()]
            if running:
                await asyncio.wait(running)
        found += await self._drop_orphans(conn, ordered)
        lap("orphans")
        await figures.recount(conn, counted)
        lap("figures")
        found.update(clock.seconds("golden"))
        return found

    async def _read(self, conn: AsyncConnection, persons: list[int]) -> _Read:
        """A chunk's records and the DTKS households they point to."""
        records = await self._records(conn, persons)
        keys = {r.normalized.get("household_key") for r in records} - {None}
        dtks: dict[str, store.StagedRecord] = {}
        for source in self.household_sources:
            dtks |= await store.records_by_key(conn, source, keys)
        return _Read(records, dtks)

    def _survive(self, read: _Read) -> _Survived:
        """Each person's records as facts, golden record and enrolments: pure, so it
        may run in a thread."""
        by_person: dict[int, list[SourceFact]] = defaultdict(list)
        for r in read.records:
            by_person[r.person_id or 0].append(_fact(r))
        dtks = {key: _fact(r) for key, r in read.dtks.items()}
        villages = {k: v.values.get("village_code") for k, v in dtks.items()}
        goldens = {p: golden_person(facts, self.rules, villages)
                   for p, facts in by_person.items()}
        programs = {p: enrollments(facts, self.rules) for p, facts in by_person.items()}
        return _Survived(by_person, dtks, goldens, programs)

    async def _records(self, conn: AsyncConnection,
                       persons: list[int]) -> list[store.StagedRecord]:
        low, high = persons[0], persons[-1]
        if len(persons) * 2 < high - low + 1:  # sparse: look them up
            return await store.records_of_persons(conn, self.person_sources, persons)
        wanted = set(persons)
        rows = await store.records_in_person_range(conn, self.person_sources, low, high)
        return [r for r in rows if r.person_id in wanted]

    @staticmethod
    async def _states(conn: AsyncConnection, persons: list[int]
                      ) -> dict[int, changes.PersonState]:
        """Each person's household, life and desil before this run rewrites them."""
        query = select(Person.id, Person.household_id, Person.alive, Household.desil,
                       Household.village_code).outerjoin(
            Household, Household.id == Person.household_id)
        if len(persons) * 2 < persons[-1] - persons[0] + 1:  # sparse: look them up
            rows = [row for _, among_persons in store.among(conn, Person.id, persons)
                    for row in await conn.execute(query.where(among_persons))]
        else:
            rows = list(await conn.execute(query.where(
                Person.id.between(persons[0], persons[-1]))))
        wanted = set(persons)
        return {row.id: changes.PersonState(row.household_id, row.alive, row.desil,
                                            row.village_code)
                for row in rows if row.id in wanted}

    @staticmethod
    async def _enrolments(conn: AsyncConnection, persons: list[int]
                          ) -> dict[int, changes.Enrolments]:
        found: dict[int, set[tuple[str, str]]] = defaultdict(set)
        for _, among_persons in store.among(conn, Enrollment.person_id, persons):
            result = await conn.execute(select(Enrollment.person_id, Enrollment.program,
                                               Enrollment.status).where(among_persons))
            for person, program, status in result:
                found[person].add((program, status))
        return {p: frozenset(items) for p, items in found.items()}

    @staticmethod
    async def _record(conn: AsyncConnection, found: list[changes.Change]) -> int:
        """The change history DCI subscriptions are notified from (same transaction)."""
        now = _now()
        rows = [{"kind": c.kind, "household_id": c.household_id, "person_id": c.person_id,
                 "region_code": c.region_code, "detail": c.detail, "occurred_at": now}
                for c in found]
        await bulk.bulk_insert(conn, RegistryEvent.__table__, rows)
        return len(rows)

    async def _households(self, conn: AsyncConnection, goldens: dict[int, Golden],
                          by_person: dict[int, list[SourceFact]],
                          dtks: dict[str, SourceFact]
                          ) -> tuple[dict[int, HouseholdOf], set[int]]:
        """Each person's household: the KK the civil registry gives (or DTKS' household
        when no KK is known), its welfare data from DTKS; and the households created."""
        identity: dict[int, tuple[str | None, str | None]] = {}
        for person, golden in goldens.items():
            key = _most_common([k for f in by_person[person]
                                if (k := f.values.get("household_key")) in dtks])
            kk = golden.values.get("kk")
            if kk or key:
                identity[person] = (kk, key)
        found = await self._existing_households(conn, identity)
        groups: dict[tuple[str, str], list[int]] = defaultdict(list)
        for person, (kk, key) in identity.items():
            groups[("kk", kk) if kk else ("dtks", key or "")].append(person)
        rows_new, rows_update = [], []
        facts_of: dict[tuple[str, str], tuple[int | None, str]] = {}
        for group, members in groups.items():
            key = _most_common([k for p in members if (k := identity[p][1])])
            welfare = dtks.get(key) if key else None
            village, lineage = _household_village(members, goldens, welfare)
            if village is None:
                continue
            desil = welfare.values.get("desil") if welfare else None
            values: dict[str, Any] = {
                "kk": group[1] if group[0] == "kk" else None, "village_code": village,
                "dtks_id": key, "address": welfare.values.get("address") if welfare else None,
                "desil": desil, "lineage": lineage, "updated_at": _now(),
            }
            if welfare:
                lineage["address"] = lineage["desil"] = _lineage(welfare)
            facts_of[group] = (desil, village)
            if group in found:
                rows_update.append({"id": found[group], **values})
            else:
                rows_new.append((group, values))
        await ensure_regions(conn, {v["village_code"] for v in
                                    [*rows_update, *(v for _, v in rows_new)]})
        await bulk.bulk_update(conn, Household.__table__, "id", rows_update)
        created: set[int] = set()
        for batch in bulk.chunks(rows_new, 20_000):
            provinces = ([province_of(v["kk"], v["village_code"]) for _, v in batch]
                         if self.by_province else None)
            ids = await bulk.insert_with_ids(conn, Household.__table__, [v for _, v in batch],
                                             provinces)
            found |= {group: hid for (group, _), hid in zip(batch, ids, strict=True)}
            created.update(ids)
        out: dict[int, HouseholdOf] = {p: (None, None, None) for p in goldens}
        for group, members in groups.items():
            desil, village = facts_of.get(group, (None, None))
            for person in members:
                out[person] = (found.get(group), desil, village)
        return out, created

    @staticmethod
    async def _existing_households(conn: AsyncConnection,
                                   identity: dict[int, tuple[str | None, str | None]]
                                   ) -> dict[tuple[str, str], int]:
        found: dict[tuple[str, str], int] = {}
        kks = sorted({kk for kk, _ in identity.values() if kk})
        for _, among_kks in store.among(conn, Household.kk, kks):
            result = await conn.execute(select(Household.kk, Household.id).where(among_kks))
            found |= {("kk", kk): hid for kk, hid in result}
        orphan_keys = sorted({key for kk, key in identity.values() if not kk and key})
        for _, among_keys in store.among(conn, Household.dtks_id, orphan_keys):
            result = await conn.execute(select(Household.dtks_id, Household.id).where(
                among_keys, Household.kk.is_(None)))
            found |= {("dtks", key): hid for key, hid in result}
        return found

    async def _write_persons(self, conn: AsyncConnection, goldens: dict[int, Golden],
                             of: dict[int, HouseholdOf], *, existing: set[int]) -> None:
        """Update the persons that exist; insert those this run has so far only drawn
        ids for (`linking`, on PostgreSQL)."""
        rows = []
        households = {p: h[0] for p, h in of.items()}
        for person, golden in goldens.items():
            v = golden.values
            name = v.get("name") or "?"
            household = of.get(person)
            rows.append({
                "id": person, "nik": v.get("nik"), "name": name[:120],
                "name_normalized": (v.get("name_normalized") or normalize_name(name))[:120],
                "sex": v.get("sex"),
                "birth_date": _date(v.get("birth_date")), "birth_place": v.get("birth_place"),
                "relation": v.get("relation"), "alive": bool(v.get("alive", True)),
                "death_date": _date(v.get("death_date")), "lineage": golden.lineage,
                "household_id": households.get(person), "updated_at": _now(),
                "region_code": person_region(household[2] if household else None,
                                             v.get("village_code"), v.get("nik")),
            })
        await bulk.bulk_update(conn, Person.__table__, "id",
                                [r for r in rows if r["id"] in existing])
        await bulk.bulk_insert(conn, Person.__table__,
                                [r for r in rows if r["id"] not in existing])
        heads = [{"id": households[p], "head_person_id": p} for p, g in goldens.items()
                 if households.get(p) and g.values.get("relation") == "HEAD"]
        await bulk.bulk_update(conn, Household.__table__, "id",
                                list({h["id"]: h for h in heads}.values()))

    @staticmethod
    async def _write_enrollments(conn: AsyncConnection, persons: list[int],
                                 programs: dict[int, list[ProgramFact]]) -> None:
        for _, among_persons in store.among(conn, Enrollment.person_id, persons):
            await conn.execute(delete(Enrollment).where(among_persons))
        rows = [{
            "person_id": person, "program": e.program, "status": e.status,
            "card_number": e.card_number, "period_start": _date(e.period_start),
            "source": e.source, "source_record_id": e.record_id,
        } for person, items in programs.items() for e in items]
        await bulk.bulk_insert(conn, Enrollment.__table__, rows)

    async def _drop_orphans(self, conn: AsyncConnection, persons: list[int]) -> Counter[str]:
        """Persons left without any record (their records moved to another person)."""
        orphans: list[int] = []
        for batch, among_persons in store.among(conn, SourceRecord.person_id, persons):
            linked = set((await conn.execute(
                select(SourceRecord.person_id).where(among_persons).distinct())).scalars())
            orphans += [p for p in batch if p not in linked]
        closed = await write_findings(conn, orphans, [])
        for batch in bulk.chunks(orphans, bulk.CHUNK):
            leaving = await conn.execute(
                select(Person.id, Person.household_id, Household.village_code)
                .outerjoin(Household, Household.id == Person.household_id)
                .where(Person.id.in_(batch)))
            closed["registry_events"] += await self._record(
                conn, changes.removed((row.id, row.household_id, row.village_code)
                                      for row in leaving))
            await conn.execute(delete(Enrollment).where(Enrollment.person_id.in_(batch)))
            await conn.execute(update(Household).where(Household.head_person_id.in_(batch))
                               .values(head_person_id=None))
            await conn.execute(delete(Person).where(Person.id.in_(batch)))
        closed["orphans_removed"] = len(orphans)
        return closed


def _most_common(items: list[str]) -> str | None:
    """The most frequent of `items` (the first seen among equals). Nearly always there
    are none or one: a Counter per person was seconds at a million persons."""
    if len(items) < 2:
        return items[0] if items else None
    return Counter(items).most_common(1)[0][0]


def _household_village(members: list[int], goldens: dict[int, Golden],
                       welfare: SourceFact | None) -> tuple[str | None, dict[str, Any]]:
    if welfare and welfare.values.get("village_code"):
        return welfare.values["village_code"], {"village_code": _lineage(welfare)}
    for person in members:
        golden = goldens[person]
        if golden.values.get("village_code"):
            return golden.values["village_code"], {
                "village_code": golden.lineage["village_code"]}
    return None, {}
