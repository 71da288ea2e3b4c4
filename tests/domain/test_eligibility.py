"""Eligibility rules: every condition, and how missing facts are answered."""

from __future__ import annotations

import random
from datetime import date

import pytest

from hub.domain.eligibility import (
    Decision,
    ProgramRule,
    Subject,
    age_on,
    desil_band,
    evaluate,
)

TODAY = date(2026, 11, 23)


def subject(**changes) -> Subject:
    base = {"alive": True, "birth_date": date(1980, 5, 1), "desil": 2,
            "region_code": "33.14.05.2001", "relation": "HEAD",
            "active_programs": frozenset(), "household_birth_dates": (date(1980, 5, 1),)}
    return Subject(**{**base, **changes})


PBI = ProgramRule("PBI_JKN", max_desil=4, not_enrolled_in=("PBI_JKN", "JKN"))


def codes(outcome) -> list[str]:
    return [r.code for r in outcome.reasons]


def test_a_poor_uncovered_person_is_eligible() -> None:
    outcome = evaluate(PBI, subject(), TODAY)
    assert outcome.decision is Decision.ELIGIBLE
    assert codes(outcome) == ["MEETS_ALL_CRITERIA"]


@pytest.mark.parametrize(("changes", "code"), [
    ({"alive": False}, "DECEASED"),
    ({"desil": 5}, "DESIL_ABOVE_MAX"),
    ({"active_programs": frozenset({"JKN"})}, "ALREADY_ENROLLED"),
])
def test_each_failed_condition_is_a_reason(changes, code) -> None:
    outcome = evaluate(PBI, subject(**changes), TODAY)
    assert outcome.decision is Decision.NOT_ELIGIBLE
    assert codes(outcome) == [code]


def test_every_failed_condition_is_listed_not_only_the_first() -> None:
    outcome = evaluate(PBI, subject(alive=False, desil=9,
                                    active_programs=frozenset({"PBI_JKN"})), TODAY)
    assert codes(outcome) == ["DECEASED", "DESIL_ABOVE_MAX", "ALREADY_ENROLLED"]


def test_a_missing_fact_needs_verification_unless_something_else_rules_out() -> None:
    unknown = evaluate(PBI, subject(desil=None), TODAY)
    assert unknown.decision is Decision.NEEDS_VERIFICATION
    assert codes(unknown) == ["DESIL_UNKNOWN"]
    ruled_out = evaluate(PBI, subject(desil=None, alive=False), TODAY)
    assert ruled_out.decision is Decision.NOT_ELIGIBLE


def test_age_bounds_are_inclusive_and_birthdays_count() -> None:
    pip = ProgramRule("KIP_PIP", max_desil=4, min_age=6, max_age=21)
    assert age_on(date(2020, 11, 23), TODAY) == 6
    assert age_on(date(2020, 11, 24), TODAY) == 5
    assert evaluate(pip, subject(birth_date=date(2020, 11, 23)), TODAY).decision is \
        Decision.ELIGIBLE
    assert codes(evaluate(pip, subject(birth_date=date(2020, 11, 24)), TODAY)) == [
        "AGE_BELOW_MIN"]
    assert codes(evaluate(pip, subject(birth_date=date(2004, 11, 22)), TODAY)) == [
        "AGE_ABOVE_MAX"]
    assert codes(evaluate(pip, subject(birth_date=None), TODAY)) == ["BIRTH_DATE_UNKNOWN"]


def test_region_head_and_required_programmes() -> None:
    rule = ProgramRule("X", regions=("33.14",), head_only=True, requires_enrolled_in=("PKH",))
    assert codes(evaluate(rule, subject(region_code="33.15.01.2001", relation="CHILD"),
                          TODAY)) == ["REQUIRED_PROGRAM_MISSING", "OUTSIDE_REGION",
                                      "NOT_HOUSEHOLD_HEAD"]
    assert evaluate(rule, subject(active_programs=frozenset({"PKH"})), TODAY).decision is \
        Decision.ELIGIBLE
    # A prefix of characters is not a sub-region.
    outside = evaluate(rule, subject(region_code="33.140", active_programs=frozenset({"PKH"})),
                       TODAY)
    assert codes(outside) == ["OUTSIDE_REGION"]


def test_household_composition() -> None:
    toddlers = ProgramRule("GIZI", household_member_under=5, household_min_members=2)
    family = (date(1980, 1, 1), date(2023, 1, 1))
    assert evaluate(toddlers, subject(household_birth_dates=family), TODAY).decision is \
        Decision.ELIGIBLE
    assert codes(evaluate(toddlers, subject(household_birth_dates=(date(1980, 1, 1),
                                                                   date(2010, 1, 1))),
                          TODAY)) == ["NO_YOUNG_CHILD"]
    assert "HOUSEHOLD_TOO_SMALL" in codes(evaluate(
        toddlers, subject(household_birth_dates=(date(2023, 1, 1),)), TODAY))
    unsure = evaluate(toddlers, subject(household_birth_dates=(date(1980, 1, 1), None)),
                      TODAY)
    assert unsure.decision is Decision.NEEDS_VERIFICATION
    elderly = ProgramRule("LANSIA", household_member_over=60)
    assert evaluate(elderly, subject(household_birth_dates=(date(1950, 1, 1),)),
                    TODAY).decision is Decision.ELIGIBLE


def test_overlaps_report_what_the_person_already_receives() -> None:
    outcome = evaluate(PBI, subject(active_programs=frozenset({"PKH", "BPNT", "OTHER"})),
                       TODAY)
    assert outcome.decision is Decision.ELIGIBLE
    assert outcome.overlaps == ("BPNT", "PKH")


@pytest.mark.parametrize(("desil", "band"), [(1, "1-2"), (2, "1-2"), (3, "3-4"), (10, "9-10"),
                                             (None, None), (0, None), (11, None)])
def test_desil_band(desil, band) -> None:
    assert desil_band(desil) == band


def _random_rule(rng: random.Random) -> ProgramRule:
    programs = ("PBI_JKN", "JKN", "PKH", "BPNT", "KIP_PIP")
    return ProgramRule(
        "R", min_desil=rng.choice((1, 1, 2)), max_desil=rng.choice((None, 4, 6)),
        min_age=rng.choice((None, 6, 18)), max_age=rng.choice((None, 21, 60)),
        alive=rng.random() < 0.8,
        not_enrolled_in=tuple(rng.sample(programs, rng.randrange(3))),
        requires_enrolled_in=tuple(rng.sample(programs, rng.randrange(2))),
        regions=rng.choice(((), ("33.14",), ("33.14.05", "33.15"))),
        head_only=rng.random() < 0.3,
        household_min_members=rng.choice((None, None, 3)),
        household_member_under=rng.choice((None, None, 6)),
        household_member_over=rng.choice((None, None, 70)),
        overlap_programs=tuple(rng.sample(programs, rng.randrange(4))))


def _random_subject(rng: random.Random) -> Subject:
    dates = (None, date(1950, 1, 1), date(1980, 11, 23), date(1980, 11, 24),
             date(2008, 11, 23), date(2022, 2, 2))
    return Subject(
        alive=rng.random() < 0.8, birth_date=rng.choice(dates),
        desil=rng.choice((None, 1, 2, 4, 5, 7, 10)),
        region_code=rng.choice((None, "33.14.05.2001", "33.14.06.2001", "33.15.01.2001",
                                "73.03.01.2001")),
        relation=rng.choice((None, "HEAD", "WIFE", "CHILD")),
        active_programs=frozenset(rng.sample(("PBI_JKN", "JKN", "PKH", "BPNT", "KIP_PIP",
                                              "BAZNAS", "OTHER"), rng.randrange(4))),
        household_birth_dates=tuple(rng.choice(dates) for _ in range(rng.randrange(5))))


def test_subjects_alike_in_what_a_rule_reads_get_one_outcome() -> None:
    """`Decider.key` is what a batch decides once: if it left out a fact `evaluate`
    reads, two subjects differing in that fact would share a key and not an outcome."""
    from hub.domain.eligibility import Decider

    rng = random.Random(23)
    shared = 0
    for _ in range(300):
        rule = _random_rule(rng)
        decide = Decider(rule, TODAY)
        outcomes: dict[tuple, object] = {}
        for _ in range(200):
            person = _random_subject(rng)
            outcome = evaluate(rule, person, TODAY)
            key = decide.key(person)
            if key in outcomes:
                shared += 1
                assert outcomes[key] == outcome, (rule, person)
            outcomes[key] = outcome
            assert decide(person) == outcome
    assert shared > 5_000  # keys are shared often enough for this to test something
