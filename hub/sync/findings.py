"""Findings: where the agencies disagree, or someone eligible is not covered.

Rules are evaluated per person on the golden record and the records behind it (pure
`evaluate`); `refresh_findings` writes them: a finding is keyed by a fingerprint
(kind, subject, detail) so the next run raises it in place, closes it automatically
when the condition is gone, and leaves a steward's resolution alone unless the evidence
changed.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import orjson
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db import bulk
from hub.db.models import Finding, MatchKey, SyncRun
from hub.domain.survivorship import Golden, ProgramFact, SourceFact
from hub.sync import store

KINDS = ("ELIGIBLE_NOT_COVERED", "DECEASED_STILL_ENROLLED", "INVALID_NIK",
         "NIK_NOT_IN_CIVIL_REGISTRY", "IDENTITY_MISMATCH", "DUPLICATE_PERSON",
         "HOUSEHOLD_CONFLICT")


def agency_of(source: str) -> str:
    """The agency (connector) behind a source: dtks_individual -> dtks."""
    return source.split("_", 1)[0]


@dataclass(frozen=True)
class FindingRules:
    pbi_max_desil: int
    pip_max_desil: int
    pip_ages: tuple[int, int]
    programs: Mapping[str, str]
    civil_registry: str
    person_sources: Sequence[str]


@dataclass
class PersonView:
    """What the rules see of one person."""

    person_id: int
    golden: Golden
    facts: list[SourceFact]
    enrollments: list[ProgramFact]
    desil: int | None
    region: str | None


@dataclass
class Lookups:
    """Facts about other persons the rules need: which persons' records carry each NIK,
    and which NIKs the civil registry knows."""

    persons_by_nik: Mapping[str, set[int]]
    civil_niks: set[str]
    civil_registry_loaded: bool


@dataclass
class Raised:
    kind: str
    person_id: int
    detail: str
    owner: str
    region: str | None
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        return f"{self.kind}:person:{self.person_id}:{self.detail}"[:200]


def _record(fact: SourceFact, *fields: str) -> dict[str, Any]:
    return {"source": fact.source, "source_key": fact.source_key, "record_id": fact.record_id,
            **{name: fact.values.get(name) for name in fields}}


def _age(birth: Any, today: date) -> int | None:
    if not isinstance(birth, str) or not birth:
        return None
    born = date.fromisoformat(birth)
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def evaluate(view: PersonView, lookups: Lookups, rules: FindingRules,
             today: date) -> list[Raised]:
    v = view.golden.values
    out: list[Raised] = []

    def raise_(kind: str, detail: str, owner: str, **evidence: Any) -> None:
        out.append(Raised(kind, view.person_id, detail, owner, view.region, evidence))

    active = {e.program for e in view.enrollments if e.status == "ACTIVE"}
    alive = bool(v.get("alive", True))
    if alive and view.desil is not None:
        if view.desil <= rules.pbi_max_desil and "PBI_JKN" not in active:
            raise_("ELIGIBLE_NOT_COVERED", "PBI_JKN", rules.programs.get("PBI_JKN", "bpjs"),
                   program="PBI_JKN", desil=view.desil,
                   enrollments=sorted(e.program for e in view.enrollments))
        age = _age(v.get("birth_date"), today)
        low, high = rules.pip_ages
        if (view.desil <= rules.pip_max_desil and age is not None and low <= age <= high
                and "KIP_PIP" not in active):
            raise_("ELIGIBLE_NOT_COVERED", "KIP_PIP", rules.programs.get("KIP_PIP", "education"),
                   program="KIP_PIP", desil=view.desil, age=age)
    if not alive:
        for e in view.enrollments:
            if e.status == "ACTIVE":
                raise_("DECEASED_STILL_ENROLLED", e.program, agency_of(e.source),
                       program=e.program, death_date=v.get("death_date"),
                       died_per=view.golden.lineage.get("alive"),
                       enrolled_per={"source": e.source, "record_id": e.record_id})
    for fact in view.facts:
        problem = fact.values.get("nik_problem")
        if problem:
            raise_("INVALID_NIK", str(fact.record_id), agency_of(fact.source),
                   problem=problem, record=_record(fact, "nik", "name"))
    if lookups.civil_registry_loaded:
        for nik in sorted({f.values.get("nik") for f in view.facts
                           if not f.values.get("nik_problem") and f.values.get("nik")}):
            if nik not in lookups.civil_niks:
                holders = [_record(f, "nik", "name") for f in view.facts
                           if f.values.get("nik") == nik]
                raise_("NIK_NOT_IN_CIVIL_REGISTRY", nik, agency_of(holders[0]["source"]),
                       nik=nik, records=holders)
    for nik in sorted({f.values.get("nik") for f in view.facts if f.values.get("nik")}):
        others = lookups.persons_by_nik.get(nik, set()) - {view.person_id}
        if others:
            mine = [_record(f, "nik", "name", "birth_date") for f in view.facts
                    if f.values.get("nik") == nik]
            owner = next((agency_of(r["source"]) for r in mine
                          if r["source"] != rules.civil_registry), rules.civil_registry)
            raise_("IDENTITY_MISMATCH", nik, owner, nik=nik, records=mine,
                   other_persons=sorted(others))
    sources = [f.source for f in view.facts]
    for source in sorted({s for s in sources if sources.count(s) > 1}):
        if source in rules.person_sources:
            raise_("DUPLICATE_PERSON", source, agency_of(source), source=source,
                   records=[_record(f, "nik", "name", "birth_date")
                            for f in view.facts if f.source == source])
    civil_kk = next((f.values.get("kk") for f in view.facts
                     if f.source == rules.civil_registry and f.values.get("kk")), None)
    if civil_kk:
        for fact in view.facts:
            kk = fact.values.get("kk")
            if fact.source != rules.civil_registry and kk and kk != civil_kk:
                raise_("HOUSEHOLD_CONFLICT", str(fact.record_id), agency_of(fact.source),
                       civil_registry_kk=civil_kk, record=_record(fact, "kk", "household_key"))
    return out


async def lookups_for(conn: AsyncConnection, facts: Iterable[SourceFact],
                      civil_registry: str) -> Lookups:
    niks = {f.values.get("nik") for f in facts if f.values.get("nik")}
    niks.discard(None)
    holders: dict[str, set[int]] = defaultdict(set)
    civil: set[str] = set()
    for _, among_niks in store.among(conn, MatchKey.nik, sorted(niks)):
        result = await conn.execute(select(MatchKey.nik, MatchKey.source, MatchKey.person_id)
                                    .where(among_niks))
        for nik, source, person in result:
            if person is not None:
                holders[nik].add(person)
            if source == civil_registry:
                civil.add(nik)
    loaded = civil or (await conn.execute(
        select(MatchKey.record_id).where(MatchKey.source == civil_registry).limit(1)
    )).first() is not None
    return Lookups(holders, civil, bool(loaded))


# Findings that stand on something *missing* from one source: a programme's owner holds
# no enrolment (ELIGIBLE_NOT_COVERED), the civil registry holds no such NIK. While that
# source's last read failed or stopped part way, "missing" may only mean "not read yet".
ABSENCE_KINDS = ("ELIGIBLE_NOT_COVERED", "NIK_NOT_IN_CIVIL_REGISTRY")


@dataclass(frozen=True)
class Held:
    """The findings to hold (neither raise nor close) because the source they rest on
    was last read in part: a connector whose latest run of some stream did not succeed."""

    partial: frozenset[str] = frozenset()
    civil_registry: str = "dukcapil"

    def __bool__(self) -> bool:
        return bool(self.partial)

    def holds(self, kind: str, owner: str | None) -> bool:
        if kind == "ELIGIBLE_NOT_COVERED":
            return owner in self.partial
        if kind == "NIK_NOT_IN_CIVIL_REGISTRY":
            return self.civil_registry in self.partial
        return False


NOTHING_HELD = Held()


async def partial_sources(conn: AsyncConnection) -> frozenset[str]:
    """Connectors whose latest run of any stream did not succeed (failed, or left
    running by a process that died)."""
    latest = (select(SyncRun.connector, SyncRun.stream, func.max(SyncRun.id).label("id"))
              .where(SyncRun.connector != "reconcile")
              .group_by(SyncRun.connector, SyncRun.stream).subquery())
    rows = await conn.execute(select(SyncRun.connector).join(
        latest, SyncRun.id == latest.c.id).where(SyncRun.status != "SUCCEEDED").distinct())
    return frozenset(rows.scalars())


def _hash(evidence: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(evidence, option=orjson.OPT_SORT_KEYS)).hexdigest()


async def write_findings(conn: AsyncConnection, persons: Iterable[int],
                         raised: Sequence[Raised], held: Held = NOTHING_HELD) -> Counter[str]:
    """Upsert what was raised for `persons`, auto-close their findings not raised;
    findings `held` rests on are left as they are, and counted as held."""
    persons = list(persons)
    now = datetime.now(UTC)
    counts: Counter[str] = Counter()
    current: dict[str, Any] = {}
    for _, among_persons in store.among(conn, Finding.subject_id, persons):
        result = await conn.execute(
            select(Finding.id, Finding.fingerprint, Finding.status, Finding.evidence_hash,
                   Finding.kind, Finding.owner_agency)
            .where(Finding.subject_type == "person", among_persons)
        )
        current |= {row.fingerprint: row for row in result}
    new_rows, updates = [], []
    seen: set[str] = set()
    for item in raised:
        fingerprint = item.fingerprint
        if fingerprint in seen:
            continue
        seen.add(fingerprint)
        if held and held.holds(item.kind, item.owner):
            counts[f"held_{item.kind}"] += 1
            continue
        digest = _hash(item.evidence)
        row = current.get(fingerprint)
        if row is None:
            new_rows.append({
                "kind": item.kind, "subject_type": "person", "subject_id": item.person_id,
                "region_code": item.region, "evidence": item.evidence, "status": "OPEN",
                "owner_agency": item.owner, "fingerprint": fingerprint, "evidence_hash": digest,
            })
            counts[f"raised_{item.kind}"] += 1
        elif row.status == "OPEN" and row.evidence_hash == digest:
            continue
        elif row.status == "RESOLVED" and row.evidence_hash == digest:
            continue  # a steward settled exactly this
        else:
            updates.append({"fid": row.id, "status": "OPEN", "evidence": item.evidence,
                            "evidence_hash": digest, "region_code": item.region,
                            "closed_at": None, "updated_at": now})
            counts["reopened_or_updated"] += 1
    closing = [{"fid": row.id, "status": "AUTO_CLOSED", "closed_at": now, "updated_at": now}
               for fingerprint, row in current.items()
               if fingerprint not in seen and row.status == "OPEN"
               and not held.holds(row.kind, row.owner_agency)]
    counts["auto_closed"] += len(closing)
    if new_rows:
        await bulk.bulk_insert(conn, Finding.__table__, new_rows)
    for rows in (updates, closing):
        if rows:
            await conn.execute(
                update(Finding).where(Finding.id == bindparam("fid"))
                .values(**{k: bindparam(k) for k in rows[0] if k != "fid"})
                .execution_options(synchronize_session=False), rows,
            )
    return counts
