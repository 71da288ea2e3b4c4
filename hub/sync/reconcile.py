"""Reconciliation: staged records → links → golden persons, households, enrolments →
findings, in one transaction.

One transaction because the pieces only make sense together: a record linked to a
person whose golden values were not yet recomputed is a lie the next reader would
believe. If the run dies, it rolls back whole and the next run starts from the same
pending records (those whose `matched_hash` differs from their `payload_hash`).

A run is incremental: it touches the records that changed since they were last
matched, the persons they were or are linked to, and those persons' households.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.config import HubSettings
from hub.db.models import (
    Enrollment,
    Household,
    LinkDecision,
    MatchKey,
    MatchModel,
    Person,
    ReviewTask,
    SourceRecord,
    SyncRun,
)
from hub.db.regions import ensure_regions
from hub.domain.matchkeys import MatchFeatures, features
from hub.domain.names import normalize_name
from hub.domain.survivorship import (
    Golden,
    ProgramFact,
    SourceFact,
    SurvivorshipRules,
    enrollments,
    golden_person,
)
from hub.sync import store
from hub.sync.findings import FindingRules, PersonView, evaluate, lookups_for, write_findings
from hub.sync.linkage import LinkageEngine
from hub.sync.matching import (
    LINKAGE_COLUMNS,
    MatchOutcome,
    features_from_key,
    linkage_row,
    resolve,
)

log = logging.getLogger(__name__)
GOLDEN_CHUNK = 2000
Progress = Callable[[str], None]


@dataclass
class ReconcileResult:
    run_id: int
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def rules_from(settings: HubSettings) -> SurvivorshipRules:
    s = settings.survivorship
    return SurvivorshipRules(identity=s.identity, residence=s.residence, programs=s.programs)


def _now() -> datetime:
    return datetime.now(UTC)


def _date(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) and value else None


class Reconciler:
    def __init__(self, engine: AsyncEngine, settings: HubSettings) -> None:
        self.engine = engine
        self.settings = settings
        self.rules = rules_from(settings)
        self.person_sources = list(settings.survivorship.identity)
        self.household_sources = list(settings.survivorship.welfare)

    async def run(self, *, full: bool = False, retrain: bool = False,
                  progress: Progress | None = None) -> ReconcileResult:
        say = progress or (lambda _message: None)
        started = time.perf_counter()
        async with self.engine.begin() as conn:
            run = (await conn.execute(
                insert(SyncRun).values(connector="reconcile", status="RUNNING", counts={})
                .returning(SyncRun.id)
            )).scalar_one()
        try:
            async with self.engine.begin() as conn:
                counts = await self._run(conn, full=full, retrain=retrain, say=say)
        except BaseException as error:
            async with self.engine.begin() as conn:
                await conn.execute(update(SyncRun).where(SyncRun.id == run).values(
                    status="FAILED", finished_at=_now(), error=f"{type(error).__name__}: {error}"
                ))
            raise
        async with self.engine.begin() as conn:
            await conn.execute(update(SyncRun).where(SyncRun.id == run).values(
                status="SUCCEEDED", finished_at=_now(), counts=counts
            ))
        return ReconcileResult(run, counts, time.perf_counter() - started)

    # -- the run ---------------------------------------------------------------------

    async def _run(self, conn: AsyncConnection, *, full: bool, retrain: bool,
                   say: Progress) -> dict[str, int]:
        if not full:
            linked = (await conn.execute(
                select(func.count()).select_from(MatchKey).where(MatchKey.person_id.is_not(None))
            )).scalar_one()
            full = linked == 0
        say("reading pending records")
        pending = [r async for r in store.stream(
            conn, store.pending_query(self.person_sources, full=full))]
        villages = await self._dtks_villages(conn, pending)
        features_of = {r.id: features(r.source, r.normalized,
                                      village_code=villages.get(r.normalized.get("household_key")))
                       for r in pending}
        counts: dict[str, int] = {"pending": len(pending), "full": int(full)}
        touched: set[int] = set()
        if pending:
            outcome = await self._match(conn, pending, features_of, full=full,
                                        retrain=retrain, say=say)
            counts |= outcome.counts
            counts["predictions"] = outcome.predictions
            say("writing links")
            touched |= await self._apply(conn, pending, features_of, outcome, full=full)
        touched |= await self._household_changes(conn, counts)
        say(f"golden records and findings of {len(touched)} persons")
        counts["persons_touched"] = len(touched)
        found = await self._golden(conn, touched)
        found += await self._drop_orphans(conn, touched)
        counts |= dict(found)
        return counts

    async def refresh(self, conn: AsyncConnection, persons: set[int]) -> Counter[str]:
        """Rebuild the golden records and findings of `persons` (a steward moved their
        records), removing any left without records."""
        touched = set(persons)
        found = await self._golden(conn, touched)
        found += await self._drop_orphans(conn, touched)
        return found

    def _finding_rules(self) -> FindingRules:
        f = self.settings.findings
        return FindingRules(pbi_max_desil=f.pbi_max_desil, pip_max_desil=f.pip_max_desil,
                            pip_ages=f.pip_ages, programs=self.rules.programs,
                            civil_registry="dukcapil", person_sources=self.person_sources)

    async def _dtks_villages(self, conn: AsyncConnection,
                             records: Iterable[store.StagedRecord]) -> dict[str, str]:
        keys = {r.normalized.get("household_key") for r in records} - {None}
        out: dict[str, str] = {}
        for source in self.household_sources:
            found = await store.records_by_key(conn, source, keys)
            out |= {k: r.normalized["village_code"] for k, r in found.items()
                    if r.normalized.get("village_code")}
        return out

    async def _match(self, conn: AsyncConnection, pending: Sequence[store.StagedRecord],
                     features_of: dict[int, MatchFeatures], *, full: bool, retrain: bool,
                     say: Progress) -> MatchOutcome:
        pending_ids = set(features_of)
        if full:
            rows = await store.anchored_keys(conn)
        else:
            rows = await store.candidate_keys(
                conn, exclude=pending_ids,
                niks={f.nik for f in features_of.values() if f.nik},
                nik12s={f.nik12 for f in features_of.values() if f.nik12},
                kks={f.kk for f in features_of.values() if f.kk},
                name_keys={f.name_key for f in features_of.values() if f.name_key},
            )
        existing = {row["record_id"]: (row["person_id"], features_from_key(row)) for row in rows}
        frequencies = await self._frequencies(conn, features_of, existing, full=full)
        engine = LinkageEngine(LINKAGE_COLUMNS)
        try:
            engine.model = await self._model(conn, engine, features_of, existing, frequencies,
                                             retrain=retrain, full=full, say=say)
            decisions = await conn.execute(
                select(LinkDecision.record_id, LinkDecision.person_id)
                .where(LinkDecision.decision == "NOT_LINK")
            )
            forbidden = [(r, p) for r, p in decisions if r in pending_ids]
            say(f"matching {len(pending)} records against {len(existing)} linked ones")
            m = self.settings.matching
            return resolve(features_of, existing, frequencies, engine,
                           upper=m.upper_threshold, lower=m.lower_threshold,
                           unique_sources=m.unique_sources, forbidden=forbidden)
        finally:
            engine.close()

    async def _frequencies(self, conn: AsyncConnection, pending: dict[int, MatchFeatures],
                           existing: dict[int, tuple[int, MatchFeatures]], *,
                           full: bool) -> dict[str, float]:
        """How common each name is in the whole registry (term frequency)."""
        if full:
            names = Counter(f.name_norm for f in pending.values())
            names.update(f.name_norm for _, f in existing.values())
            total = max(1, sum(names.values()))
            return {name: count / total for name, count in names.items()}
        wanted = {f.name_norm for f in pending.values()}
        counts, total = await store.name_frequencies(conn, wanted)
        total = max(1, total + len(pending))
        return {name: (counts.get(name, 0) + 1) / total for name in wanted} | {
            f.name_norm: (counts.get(f.name_norm, 0) + 1) / total
            for _, f in existing.values()
        }

    async def _model(self, conn: AsyncConnection, engine: LinkageEngine,
                     pending: dict[int, MatchFeatures],
                     existing: dict[int, tuple[int, MatchFeatures]],
                     frequencies: dict[str, float], *, retrain: bool, full: bool,
                     say: Progress) -> dict[str, Any]:
        """The latest model, or a new one when there is none, when asked, or when the
        registry has outgrown the one it was trained on."""
        latest = (await conn.execute(
            select(MatchModel).order_by(MatchModel.version.desc()).limit(1)
        )).mappings().first()
        population = len(pending) + len(existing)
        if not retrain and latest is not None:
            registry = (await conn.execute(
                select(func.count()).select_from(MatchKey))).scalar_one()
            grown = registry if full else registry + len(pending)
            if grown < latest["trained_on"] * self.settings.matching.retrain_growth:
                return latest["settings"]
            population = grown
        say(f"training the match model on {len(pending) + len(existing)} records")
        rows = [linkage_row(r, f, frequencies.get(f.name_norm, 0.0)) for r, f in pending.items()]
        rows += [linkage_row(r, f, frequencies.get(f.name_norm, 0.0))
                 for r, (_, f) in existing.items()]
        model = engine.train(rows)
        await conn.execute(insert(MatchModel).values(settings=model, trained_on=population))
        return model

    # -- writing links ---------------------------------------------------------------

    async def _apply(self, conn: AsyncConnection, pending: Sequence[store.StagedRecord],
                     features_of: dict[int, MatchFeatures], outcome: MatchOutcome, *,
                     full: bool) -> set[int]:
        assignment = outcome.assignment
        previous = {r.id: r.person_id for r in pending if r.person_id is not None}
        by_id = {r.id: r for r in pending}
        cluster_person = await self._new_persons(conn, assignment.new_cluster, by_id, previous,
                                                 reuse=full)
        person_of = dict(assignment.person)
        person_of |= {r: cluster_person[c] for r, c in assignment.new_cluster.items()}
        await conn.execute(
            update(SourceRecord).where(SourceRecord.id == bindparam("rid")).values(
                person_id=bindparam("pid"), link_method=bindparam("method"),
                link_score=bindparam("score"), matched_hash=bindparam("hash"),
            ).execution_options(synchronize_session=False),
            [{"rid": r.id, "pid": person_of[r.id], "method": assignment.method[r.id],
              "score": round(assignment.score[r.id], 6), "hash": r.payload_hash}
             for r in pending],
        )
        await self._write_keys(conn, features_of, person_of)
        await self._write_reviews(conn, outcome, person_of, features_of)
        return set(person_of.values()) | set(previous.values())

    async def _new_persons(self, conn: AsyncConnection, clusters: dict[int, int],
                           by_id: dict[int, store.StagedRecord], previous: dict[int, int], *,
                           reuse: bool) -> dict[int, int]:
        """A person for each new cluster; a full re-run gives a cluster back the person
        most of its records had, so ids stay stable across rebuilds."""
        members: dict[int, list[int]] = defaultdict(list)
        for record, c in clusters.items():
            members[c].append(record)
        out: dict[int, int] = {}
        if reuse:
            claimed: set[int] = set()
            for c, records in sorted(members.items(), key=lambda kv: -len(kv[1])):
                votes = Counter(previous[r] for r in records if r in previous)
                for person, _ in votes.most_common():
                    if person not in claimed:
                        out[c] = person
                        claimed.add(person)
                        break
        fresh = [c for c in members if c not in out]
        if fresh:
            rows = []
            for c in fresh:
                first = by_id[min(members[c])].normalized
                name = first.get("name") or "?"
                rows.append({"name": name[:120], "name_normalized": normalize_name(name)[:120]})
            ids = (await conn.execute(
                insert(Person).returning(Person.id, sort_by_parameter_order=True), rows
            )).scalars().all()
            out |= dict(zip(fresh, ids, strict=True))
        return out

    async def _write_keys(self, conn: AsyncConnection, features_of: dict[int, MatchFeatures],
                          person_of: dict[int, int]) -> None:
        for batch in store.chunks(features_of):
            await conn.execute(delete(MatchKey).where(MatchKey.record_id.in_(batch)))
        rows = [{
            "record_id": r, "person_id": person_of.get(r), "source": f.source, "nik": f.nik,
            "nik12": f.nik12, "name_norm": f.name_norm[:120], "name_key": f.name_key[:120],
            "birth_date": f.birth_date, "birth_year": f.birth_year, "sex": f.sex,
            "village_code": f.village_code, "district_code": f.district_code, "kk": f.kk,
        } for r, f in features_of.items()]
        for batch in store.chunks(rows, 5000):
            await conn.execute(insert(MatchKey), batch)

    async def _write_reviews(self, conn: AsyncConnection, outcome: MatchOutcome,
                             person_of: dict[int, int],
                             features_of: dict[int, MatchFeatures]) -> None:
        records = list(features_of)
        for batch in store.chunks(records):
            await conn.execute(update(ReviewTask).where(
                ReviewTask.record_id.in_(batch), ReviewTask.status == "OPEN"
            ).values(status="OBSOLETE"))
        existing_person = {}
        others = {p.other for p in outcome.reviews if p.other not in person_of}
        for batch in store.chunks(others):
            result = await conn.execute(select(MatchKey.record_id, MatchKey.person_id)
                                        .where(MatchKey.record_id.in_(batch)))
            existing_person |= dict(result.all())
        rows: dict[tuple[int, int], dict[str, Any]] = {}
        for pair in outcome.reviews:
            candidate = person_of.get(pair.other) or existing_person.get(pair.other)
            if candidate is None or candidate == person_of.get(pair.record):
                continue
            f = features_of[pair.record]
            key = (pair.record, candidate)
            if key in rows and rows[key]["probability"] >= pair.probability:
                continue
            rows[key] = {
                "record_id": pair.record, "candidate_person_id": candidate,
                "candidate_record_id": pair.other, "probability": round(pair.probability, 6),
                "evidence": pair.evidence, "region_code": f.village_code or f.district_code,
                "status": "OPEN",
            }
        if rows:
            for batch in store.chunks(list(rows)):
                await conn.execute(delete(ReviewTask).where(
                    ReviewTask.record_id.in_({r for r, _ in batch})
                ))
            await conn.execute(insert(ReviewTask), list(rows.values()))

    async def _household_changes(self, conn: AsyncConnection, counts: dict[str, int]) -> set[int]:
        """Changed DTKS household rows (desil, address) touch their members."""
        changed = [r async for r in store.stream(
            conn, store.pending_query(self.household_sources, full=False))]
        counts["household_records"] = len(changed)
        if not changed:
            return set()
        touched: set[int] = set()
        keys = [r.source_key for r in changed]
        for batch in store.chunks(keys):
            result = await conn.execute(
                select(Person.id).join(Household, Household.id == Person.household_id)
                .where(Household.dtks_id.in_(batch))
            )
            touched |= set(result.scalars())
            result = await conn.execute(
                select(SourceRecord.person_id).where(
                    SourceRecord.source.in_(self.person_sources),
                    SourceRecord.person_id.is_not(None),
                    func.coalesce(SourceRecord.normalized["household_key"].as_string(), "")
                    .in_(batch),
                )
            )
            touched |= set(result.scalars())
        await conn.execute(
            update(SourceRecord).where(SourceRecord.id == bindparam("rid"))
            .values(matched_hash=bindparam("hash"))
            .execution_options(synchronize_session=False),
            [{"rid": r.id, "hash": r.payload_hash} for r in changed],
        )
        return touched

    # -- golden records --------------------------------------------------------------

    async def _golden(self, conn: AsyncConnection, persons: set[int]) -> Counter[str]:
        rules = self._finding_rules()
        today = date.today()
        found: Counter[str] = Counter()
        for batch in store.chunks(sorted(persons), GOLDEN_CHUNK):
            records = await store.records_of_persons(conn, self.person_sources, batch)
            by_person: dict[int, list[SourceFact]] = defaultdict(list)
            for r in records:
                by_person[r.person_id or 0].append(SourceFact(
                    r.id, r.source, r.source_key,
                    r.last_seen.isoformat() if r.last_seen else "", r.normalized,
                ))
            dtks = await self._dtks_households(conn, by_person)
            villages = {k: v.values.get("village_code") for k, v in dtks.items()}
            goldens = {p: golden_person(facts, self.rules, villages)
                       for p, facts in by_person.items()}
            households = await self._households(conn, goldens, by_person, dtks)
            await self._write_persons(conn, goldens, {p: h[0] for p, h in households.items()})
            programs = {p: enrollments(facts, self.rules) for p, facts in by_person.items()}
            await self._write_enrollments(conn, programs)
            lookups = await lookups_for(conn, (f for fs in by_person.values() for f in fs),
                                        rules.civil_registry)
            raised = [item for p, g in goldens.items() for item in evaluate(
                PersonView(p, g, by_person[p], programs[p], households[p][1],
                           households[p][2] or g.values.get("village_code")),
                lookups, rules, today)]
            found += await write_findings(conn, batch, raised)
        return found

    async def _dtks_households(self, conn: AsyncConnection,
                               by_person: dict[int, list[SourceFact]]) -> dict[str, SourceFact]:
        keys = {f.values.get("household_key") for facts in by_person.values() for f in facts}
        keys.discard(None)
        out: dict[str, SourceFact] = {}
        for source in self.household_sources:
            for key, r in (await store.records_by_key(conn, source, keys)).items():
                out[key] = SourceFact(r.id, r.source, r.source_key,
                                      r.last_seen.isoformat() if r.last_seen else "",
                                      r.normalized)
        return out

    async def _households(self, conn: AsyncConnection, goldens: dict[int, Golden],
                          by_person: dict[int, list[SourceFact]],
                          dtks: dict[str, SourceFact]
                          ) -> dict[int, tuple[int | None, int | None, str | None]]:
        """Each person's household: the KK the civil registry gives (or DTKS' household
        when no KK is known), its welfare data from DTKS."""
        def dtks_key(person: int) -> str | None:
            keys = Counter(f.values.get("household_key") for f in by_person[person]
                           if f.values.get("household_key") in dtks)
            return keys.most_common(1)[0][0] if keys else None

        identity: dict[int, tuple[str | None, str | None]] = {}
        for person, golden in goldens.items():
            kk = golden.values.get("kk")
            key = dtks_key(person)
            if kk or key:
                identity[person] = (kk, key)
        kks = {kk for kk, _ in identity.values() if kk}
        found: dict[tuple[str, str], int] = {}
        for batch in store.chunks(sorted(kks)):
            result = await conn.execute(select(Household.kk, Household.id)
                                        .where(Household.kk.in_(batch)))
            found |= {("kk", kk): hid for kk, hid in result}
        orphan_keys = {key for kk, key in identity.values() if not kk and key}
        for batch in store.chunks(sorted(orphan_keys)):
            result = await conn.execute(select(Household.dtks_id, Household.id).where(
                Household.dtks_id.in_(batch), Household.kk.is_(None)))
            found |= {("dtks", key): hid for key, hid in result}

        groups: dict[tuple[str, str], list[int]] = defaultdict(list)
        for person, (kk, key) in identity.items():
            groups[("kk", kk) if kk else ("dtks", key or "")].append(person)
        rows_new, rows_update = [], []
        facts_of: dict[tuple[str, str], tuple[int | None, str]] = {}
        for group, members in groups.items():
            keys = Counter(identity[p][1] for p in members if identity[p][1])
            key = keys.most_common(1)[0][0] if keys else None
            welfare = dtks.get(key) if key else None
            village, lineage = self._household_village(members, goldens, welfare)
            if village is None:
                continue
            values: dict[str, Any] = {
                "kk": group[1] if group[0] == "kk" else None, "village_code": village,
                "dtks_id": key, "lineage": lineage,
                "address": welfare.values.get("address") if welfare else None,
                "desil": welfare.values.get("desil") if welfare else None,
                "updated_at": _now(),
            }
            facts_of[group] = (values["desil"], village)
            if welfare:
                for name in ("address", "desil"):
                    lineage[name] = {"source": welfare.source, "source_key": welfare.source_key,
                                     "record_id": welfare.record_id, "seen_at": welfare.seen_at}
            if group in found:
                rows_update.append({"hid": found[group], **values})
            else:
                rows_new.append((group, values))
        if rows_update:
            await conn.execute(
                update(Household).where(Household.id == bindparam("hid")).values(
                    **{k: bindparam(k) for k in rows_update[0] if k != "hid"}
                ).execution_options(synchronize_session=False), rows_update,
            )
        await ensure_regions(conn, {v["village_code"] for v in
                                    [*rows_update, *(v for _, v in rows_new)]})
        if rows_new:
            ids = (await conn.execute(
                insert(Household).returning(Household.id, sort_by_parameter_order=True),
                [v for _, v in rows_new],
            )).scalars().all()
            found |= {group: hid for (group, _), hid in zip(rows_new, ids, strict=True)}
        out: dict[int, tuple[int | None, int | None, str | None]] = {
            p: (None, None, None) for p in goldens}
        for group, members in groups.items():
            desil, village = facts_of.get(group, (None, None))
            for person in members:
                out[person] = (found.get(group), desil, village)
        return out

    @staticmethod
    def _household_village(members: list[int], goldens: dict[int, Golden],
                           welfare: SourceFact | None) -> tuple[str | None, dict[str, Any]]:
        if welfare and welfare.values.get("village_code"):
            return welfare.values["village_code"], {"village_code": {
                "source": welfare.source, "source_key": welfare.source_key,
                "record_id": welfare.record_id, "seen_at": welfare.seen_at}}
        for person in members:
            golden = goldens[person]
            if golden.values.get("village_code"):
                return golden.values["village_code"], {
                    "village_code": golden.lineage["village_code"]}
        return None, {}

    async def _write_persons(self, conn: AsyncConnection, goldens: dict[int, Golden],
                             households: dict[int, int | None]) -> None:
        rows = []
        for person, golden in goldens.items():
            v = golden.values
            name = v.get("name") or "?"
            rows.append({
                "pid": person, "nik": v.get("nik"), "name": name[:120],
                "name_normalized": normalize_name(name)[:120], "sex": v.get("sex"),
                "birth_date": _date(v.get("birth_date")), "birth_place": v.get("birth_place"),
                "relation": v.get("relation"), "alive": bool(v.get("alive", True)),
                "death_date": _date(v.get("death_date")), "lineage": golden.lineage,
                "household_id": households.get(person), "updated_at": _now(),
            })
        if rows:
            await conn.execute(
                update(Person).where(Person.id == bindparam("pid")).values(
                    **{k: bindparam(k) for k in rows[0] if k != "pid"}
                ).execution_options(synchronize_session=False), rows,
            )
        heads = [(households[p], p) for p, g in goldens.items()
                 if households.get(p) and g.values.get("relation") == "HEAD"]
        if heads:
            await conn.execute(
                update(Household).where(Household.id == bindparam("hid"))
                .values(head_person_id=bindparam("head"))
                .execution_options(synchronize_session=False),
                [{"hid": h, "head": p} for h, p in heads],
            )

    async def _write_enrollments(self, conn: AsyncConnection,
                                 programs: dict[int, list[ProgramFact]]) -> None:
        persons = list(programs)
        await conn.execute(delete(Enrollment).where(Enrollment.person_id.in_(persons)))
        rows = [{
            "person_id": person, "program": e.program, "status": e.status,
            "card_number": e.card_number, "period_start": _date(e.period_start),
            "source": e.source, "source_record_id": e.record_id,
        } for person, items in programs.items() for e in items]
        if rows:
            await conn.execute(insert(Enrollment), rows)

    async def _drop_orphans(self, conn: AsyncConnection, touched: set[int]) -> Counter[str]:
        """Persons left without any record (their records moved to another person)."""
        orphans: list[int] = []
        for batch in store.chunks(sorted(touched)):
            linked = set((await conn.execute(
                select(SourceRecord.person_id).where(SourceRecord.person_id.in_(batch))
                .distinct()
            )).scalars())
            orphans += [p for p in batch if p not in linked]
        closed = await write_findings(conn, orphans, [])
        for batch in store.chunks(orphans):
            await conn.execute(delete(Enrollment).where(Enrollment.person_id.in_(batch)))
            await conn.execute(update(Household).where(Household.head_person_id.in_(batch))
                               .values(head_person_id=None))
            await conn.execute(delete(Person).where(Person.id.in_(batch)))
        touched.difference_update(orphans)
        closed["orphans_removed"] = len(orphans)
        return closed
