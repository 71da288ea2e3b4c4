"""Survivorship: which agency's value a golden record keeps, field by field.

Each field has an ordered list of sources; the first source that has a value wins, and
within one source (DTKS lists some people twice) the record seen last. The winner is
remembered as lineage, so every golden value can say where it came from and when.
Pure: the records come in, the golden values and their lineage go out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hub.domain.nik import nik_problem

IDENTITY_FIELDS = ("nik", "name", "birth_date", "sex", "birth_place", "kk", "relation",
                   "alive", "death_date")


@dataclass(frozen=True, slots=True)
class SourceFact:
    record_id: int
    source: str
    source_key: str
    seen_at: str
    values: Mapping[str, Any]


@dataclass(frozen=True)
class SurvivorshipRules:
    """Source priority per field, and which source owns each programme's enrolment."""

    identity: Sequence[str]
    residence: Sequence[str]
    programs: Mapping[str, str]


@dataclass
class Golden:
    values: dict[str, Any]
    lineage: dict[str, dict[str, Any]]


def _lineage(fact: SourceFact) -> dict[str, Any]:
    return {"source": fact.source, "source_key": fact.source_key,
            "record_id": fact.record_id, "seen_at": fact.seen_at}


def _usable(fact: SourceFact, name: str, value: Any) -> bool:
    """A value that may survive: present, and for a NIK structurally valid (a staged
    record says so itself in `nik_problem`; anything else is parsed)."""
    if value is None or value == "":
        return False
    if name == "nik":
        if "nik_problem" in fact.values:
            return not fact.values["nik_problem"]
        return nik_problem(str(value)) is None
    return True


def _ordered(facts: Iterable[SourceFact], order: Sequence[str]) -> list[SourceFact]:
    """Facts from the sources in `order`, best source first, within one source the
    record seen last (then the newest id) first: a field survives from the first fact
    that has a usable value."""
    rank = {source: i for i, source in enumerate(order)}
    ordered = sorted((f for f in facts if f.source in rank),
                     key=lambda f: (f.seen_at, f.record_id), reverse=True)
    ordered.sort(key=lambda f: rank[f.source])  # stable: keeps the latest first
    return ordered


def golden_person(facts: Sequence[SourceFact], rules: SurvivorshipRules,
                  residence: Mapping[str, Any] | None = None) -> Golden:
    """The golden identity of one person from all the records linked to it.
    `residence` is the village code each DTKS household key lives in."""
    values: dict[str, Any] = {}
    lineage: dict[str, dict[str, Any]] = {}
    ordered = _ordered(facts, rules.identity)
    for name in IDENTITY_FIELDS:
        for fact in ordered:
            value = fact.values.get(name)
            if _usable(fact, name, value):
                values[name], lineage[name] = value, _lineage(fact)
                break
    values.setdefault("alive", True)
    if "name" in lineage:  # the normalised form of the same record's name, if it has one
        winner = next(f for f in facts if f.record_id == lineage["name"]["record_id"])
        if winner.values.get("name_normalized"):
            values["name_normalized"] = winner.values["name_normalized"]
    village = _residence(facts, rules, residence or {})
    if village is not None:
        values["village_code"], winner = village
        lineage["village_code"] = _lineage(winner)
    return Golden(values, lineage)


def _residence(facts: Sequence[SourceFact], rules: SurvivorshipRules,
               residence: Mapping[str, Any]) -> tuple[Any, SourceFact] | None:
    for fact in _ordered(facts, rules.residence):
        village = fact.values.get("village_code") or residence.get(
            fact.values.get("household_key") or "")
        if village:
            return village, fact
    return None


@dataclass(frozen=True)
class ProgramFact:
    program: str
    status: str
    card_number: str | None
    period_start: str | None
    source: str
    record_id: int


def enrollments(facts: Sequence[SourceFact], rules: SurvivorshipRules) -> list[ProgramFact]:
    """Each programme's status, told by the agency that runs it: BPJS for PBI-JKN,
    education for PIP, Baznas for its aid, DTKS (Kemensos) for PKH and BPNT."""
    out: dict[str, ProgramFact] = {}
    for fact in sorted(facts, key=lambda f: (f.seen_at, f.record_id)):
        for program, status, card, start in _programs_of(fact):
            if rules.programs.get(program) != fact.source:
                continue
            current = out.get(program)
            if current is None or status == "ACTIVE" or current.status != "ACTIVE":
                out[program] = ProgramFact(program, status, card, start, fact.source,
                                           fact.record_id)
    return sorted(out.values(), key=lambda p: p.program)


def _programs_of(fact: SourceFact) -> Iterable[tuple[str, str, str | None, str | None]]:
    values = fact.values
    if values.get("program"):
        yield (values["program"], values.get("status") or "ACTIVE", values.get("card_number"),
               values.get("aid_date"))
    for program, flag in (values.get("programs") or {}).items():
        if flag:
            yield program, "ACTIVE", None, None
