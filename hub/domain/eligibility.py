"""Programme eligibility, as data: each programme's rule (desil range, age, coverage it
must not duplicate, alive, region, household composition) is configuration, and a
decision is a pure function of the rule and the person's golden record.

A decision says why in codes a system can act on and text a desk officer can read. A
rule that needs a fact the registry does not hold (no desil: the person is not in DTKS)
gives NEEDS_VERIFICATION rather than a guess: SLRT's answer to that is a home visit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum


class Decision(StrEnum):
    ELIGIBLE = "ELIGIBLE"
    NOT_ELIGIBLE = "NOT_ELIGIBLE"
    NEEDS_VERIFICATION = "NEEDS_VERIFICATION"


@dataclass(frozen=True, slots=True)
class ProgramRule:
    name: str
    description: str = ""
    min_desil: int = 1
    max_desil: int | None = None
    min_age: int | None = None
    max_age: int | None = None
    alive: bool = True
    # Active enrolment in any of these means the person is covered already.
    not_enrolled_in: tuple[str, ...] = ()
    # Active enrolment in all of these is a precondition (e.g. PKH graduates).
    requires_enrolled_in: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    head_only: bool = False
    household_min_members: int | None = None
    # The household has someone this young / this old (a toddler, an elderly member).
    household_member_under: int | None = None
    household_member_over: int | None = None
    # Programmes whose active enrolment is reported as an overlap flag.
    overlap_programs: tuple[str, ...] = ("PBI_JKN", "KIP_PIP", "PKH", "BPNT", "BAZNAS")


@dataclass(frozen=True, slots=True)
class Subject:
    """What a decision may look at, from the golden record."""

    alive: bool
    birth_date: date | None
    desil: int | None
    region_code: str | None
    relation: str | None
    active_programs: frozenset[str]
    household_birth_dates: tuple[date | None, ...] = ()


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    text: str


@dataclass(frozen=True, slots=True)
class Outcome:
    decision: Decision
    reasons: tuple[Reason, ...]
    overlaps: tuple[str, ...] = field(default=())


def age_on(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def desil_band(desil: int | None) -> str | None:
    """Desil in bands of two (1-2, 3-4, ...): enough to target, less to identify."""
    if desil is None or not 1 <= desil <= 10:
        return None
    low = desil - (desil + 1) % 2
    return f"{low}-{low + 1}"


def _within(code: str | None, regions: Sequence[str]) -> bool:
    return code is not None and any(code == r or code.startswith(r + ".") for r in regions)


def evaluate(rule: ProgramRule, subject: Subject, today: date) -> Outcome:
    """Every failed condition is a reason; a missing fact makes the answer
    NEEDS_VERIFICATION unless another condition already rules the person out."""
    failed: list[Reason] = []
    unknown: list[Reason] = []
    if rule.alive and not subject.alive:
        failed.append(Reason("DECEASED", "recorded as deceased in the civil registry"))
    if rule.max_desil is not None or rule.min_desil > 1:
        if subject.desil is None:
            unknown.append(Reason("DESIL_UNKNOWN", "no desil: the household is not in DTKS "
                                  "(a home visit can assess it)"))
        elif rule.max_desil is not None and subject.desil > rule.max_desil:
            failed.append(Reason("DESIL_ABOVE_MAX", f"desil {subject.desil} is above "
                                 f"{rule.max_desil}"))
        elif subject.desil < rule.min_desil:
            failed.append(Reason("DESIL_BELOW_MIN", f"desil {subject.desil} is below "
                                 f"{rule.min_desil}"))
    if rule.min_age is not None or rule.max_age is not None:
        if subject.birth_date is None:
            unknown.append(Reason("BIRTH_DATE_UNKNOWN", "no birth date on record"))
        else:
            age = age_on(subject.birth_date, today)
            if rule.min_age is not None and age < rule.min_age:
                failed.append(Reason("AGE_BELOW_MIN", f"younger than {rule.min_age}"))
            if rule.max_age is not None and age > rule.max_age:
                failed.append(Reason("AGE_ABOVE_MAX", f"older than {rule.max_age}"))
    covered = sorted(subject.active_programs & set(rule.not_enrolled_in))
    if covered:
        failed.append(Reason("ALREADY_ENROLLED", f"already receives {', '.join(covered)}"))
    missing = sorted(set(rule.requires_enrolled_in) - subject.active_programs)
    if missing:
        failed.append(Reason("REQUIRED_PROGRAM_MISSING", f"not enrolled in "
                             f"{', '.join(missing)}"))
    if rule.regions and not _within(subject.region_code, rule.regions):
        failed.append(Reason("OUTSIDE_REGION", "lives outside the programme's regions"))
    if rule.head_only and subject.relation != "HEAD":
        failed.append(Reason("NOT_HOUSEHOLD_HEAD", "the programme is paid to household heads"))
    failed.extend(_household(rule, subject, today, unknown))
    overlaps = tuple(sorted(subject.active_programs & set(rule.overlap_programs)))
    if failed:
        return Outcome(Decision.NOT_ELIGIBLE, tuple(failed), overlaps)
    if unknown:
        return Outcome(Decision.NEEDS_VERIFICATION, tuple(unknown), overlaps)
    return Outcome(Decision.ELIGIBLE, (Reason("MEETS_ALL_CRITERIA",
                                              f"meets every criterion of {rule.name}"),),
                   overlaps)


class Decider:
    """`evaluate` for many subjects under one rule on one day, each distinct set of
    relevant facts decided once; the outcomes are shared, never changed."""

    def __init__(self, rule: ProgramRule, today: date) -> None:
        self.rule = rule
        self.today = today
        self._decided: dict[tuple[object, ...], Outcome] = {}
        # What the rule reads, worked out once rather than for every subject.
        self._desil = rule.max_desil is not None or rule.min_desil > 1
        self._age = rule.min_age is not None or rule.max_age is not None
        self._household = (rule.household_min_members is not None
                           or rule.household_member_under is not None
                           or rule.household_member_over is not None)
        self._programs = frozenset((*rule.not_enrolled_in, *rule.requires_enrolled_in,
                                    *rule.overlap_programs))

    def key(self, subject: Subject) -> tuple[object, ...]:
        """Every fact of `subject` that `evaluate` reads under the rule, and nothing
        more: two subjects alike in these get the same outcome. A batch of 10,000
        persons comes down to a few hundred of these."""
        rule, today = self.rule, self.today
        return (
            subject.alive if rule.alive else None,
            subject.desil if self._desil else None,
            (None if subject.birth_date is None else age_on(subject.birth_date, today))
            if self._age else None,
            subject.active_programs & self._programs,
            _within(subject.region_code, rule.regions) if rule.regions else None,
            subject.relation == "HEAD" if rule.head_only else None,
            tuple(None if b is None else age_on(b, today)
                  for b in subject.household_birth_dates) if self._household else None,
        )

    def __call__(self, subject: Subject) -> Outcome:
        key = self.key(subject)
        outcome = self._decided.get(key)
        if outcome is None:
            outcome = self._decided[key] = evaluate(self.rule, subject, self.today)
        return outcome


def _household(rule: ProgramRule, subject: Subject, today: date,
               unknown: list[Reason]) -> list[Reason]:
    if (rule.household_min_members is None and rule.household_member_under is None
            and rule.household_member_over is None):
        return []
    failed = []
    members = subject.household_birth_dates
    if rule.household_min_members is not None and len(members) < rule.household_min_members:
        failed.append(Reason("HOUSEHOLD_TOO_SMALL", f"fewer than {rule.household_min_members} "
                             "household members"))
    ages = [age_on(b, today) for b in members if b is not None]
    if len(ages) < len(members) and (rule.household_member_under is not None
                                     or rule.household_member_over is not None):
        if not any(_fits(rule, a) for a in ages):
            unknown.append(Reason("HOUSEHOLD_AGES_UNKNOWN", "a member's birth date is "
                                  "missing"))
        return failed
    if rule.household_member_under is not None and not any(
            a < rule.household_member_under for a in ages):
        failed.append(Reason("NO_YOUNG_CHILD", f"no household member under "
                             f"{rule.household_member_under}"))
    if rule.household_member_over is not None and not any(
            a > rule.household_member_over for a in ages):
        failed.append(Reason("NO_ELDERLY_MEMBER", f"no household member over "
                             f"{rule.household_member_over}"))
    return failed


def _fits(rule: ProgramRule, age: int) -> bool:
    return ((rule.household_member_under is None or age < rule.household_member_under)
            and (rule.household_member_over is None or age > rule.household_member_over))


# What a partner (Baznas, CSR) reads of each reason: the decision's code already says
# which condition failed; the text adds nothing about health, death, children or the
# exact desil (UU PDP: a partner needs the decision, not the facts behind it).
_PARTNER_TEXTS = {
    "DECEASED": "does not meet the programme's conditions",
    "DESIL_UNKNOWN": "not in DTKS: a home visit can assess eligibility",
    "BIRTH_DATE_UNKNOWN": "a fact the rule needs is not on record",
    "AGE_BELOW_MIN": "outside the programme's age range",
    "AGE_ABOVE_MAX": "outside the programme's age range",
    "ALREADY_ENROLLED": "already covered by a programme this one does not duplicate",
    "REQUIRED_PROGRAM_MISSING": "not enrolled in a programme this one requires",
    "OUTSIDE_REGION": "lives outside the programme's regions",
    "NOT_HOUSEHOLD_HEAD": "the programme is paid to household heads",
    "HOUSEHOLD_TOO_SMALL": "the household does not meet the programme's composition rule",
    "HOUSEHOLD_AGES_UNKNOWN": "a fact the rule needs is not on record",
    "NO_YOUNG_CHILD": "the household does not meet the programme's composition rule",
    "NO_ELDERLY_MEMBER": "the household does not meet the programme's composition rule",
    "MEETS_ALL_CRITERIA": "meets every criterion of the programme",
}


def for_partner(reason: Reason, desil: int | None) -> Reason:
    """The reason as a partner reads it: the desil only as its band, and no fact of
    health, death or children beyond the code."""
    if reason.code in ("DESIL_ABOVE_MAX", "DESIL_BELOW_MIN"):
        side = "above" if reason.code == "DESIL_ABOVE_MAX" else "below"
        band = desil_band(desil)
        return Reason(reason.code, f"desil band {band} is {side} the programme's range"
                      if band else f"the desil is {side} the programme's range")
    return Reason(reason.code, _PARTNER_TEXTS.get(reason.code,
                                                  "does not meet the programme's conditions"))
