"""What changed in the registry when reconciliation rewrote a batch of persons, pure:
the events DCI subscribers are notified of.

Events are about families (the registry's unit): a new household, a member added or
removed, a desil change, a death, an enrolment change. A new household's members come
with its registration, so nothing is said about them one by one; the first build of a
registry is then one event per household, not one per person and fact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

NEW_HOUSEHOLD = "NEW_HOUSEHOLD"
MEMBER_ADDED = "MEMBER_ADDED"
MEMBER_REMOVED = "MEMBER_REMOVED"
DESIL_CHANGED = "DESIL_CHANGED"
DEATH = "DEATH"
ENROLLMENT_CHANGED = "ENROLLMENT_CHANGED"
KINDS = (NEW_HOUSEHOLD, MEMBER_ADDED, MEMBER_REMOVED, DESIL_CHANGED, DEATH,
         ENROLLMENT_CHANGED)

Enrolments = frozenset[tuple[str, str]]  # (programme, status)


@dataclass(frozen=True, slots=True)
class PersonState:
    household_id: int | None
    alive: bool
    desil: int | None  # the household's
    village_code: str | None = None  # the household's


@dataclass(frozen=True, slots=True)
class Change:
    kind: str
    household_id: int | None
    person_id: int | None
    region_code: str | None
    detail: dict[str, Any] = field(default_factory=dict)


def household_kept(before: PersonState | None, after: PersonState,
                   new_households: set[int]) -> bool:
    """The person stays in a household that existed before this run: the only case in
    which their own facts (death, enrolments) are news of their own."""
    return (after.household_id is not None and after.household_id not in new_households
            and before is not None and before.household_id == after.household_id)


def registry_changes(before: Mapping[int, PersonState], after: Mapping[int, PersonState],
                     new_households: set[int],
                     enrolments_before: Mapping[int, Enrolments],
                     enrolments_after: Mapping[int, Enrolments]) -> list[Change]:
    changes: list[Change] = []
    desil_told: set[int] = set()
    village_of: dict[int, str | None] = {}
    for state in after.values():
        if state.household_id in new_households:
            village_of.setdefault(state.household_id, state.village_code)
    for household in sorted(new_households):
        changes.append(Change(NEW_HOUSEHOLD, household, None, village_of.get(household)))
    for person in sorted(after):
        now, then = after[person], before.get(person)
        old_household = then.household_id if then else None
        if old_household is not None and old_household != now.household_id:
            changes.append(Change(MEMBER_REMOVED, old_household, person, then.village_code
                                  if then else None, {"to_household": now.household_id}))
        if now.household_id is None or now.household_id in new_households:
            continue
        if old_household != now.household_id:
            changes.append(Change(MEMBER_ADDED, now.household_id, person, now.village_code,
                                  {"from_household": old_household}))
            continue
        assert then is not None
        if then.desil != now.desil and now.household_id not in desil_told:
            desil_told.add(now.household_id)
            changes.append(Change(DESIL_CHANGED, now.household_id, None, now.village_code,
                                  {"from": then.desil, "to": now.desil}))
        if then.alive and not now.alive:
            changes.append(Change(DEATH, now.household_id, person, now.village_code))
        old, new = enrolments_before.get(person, frozenset()), \
            enrolments_after.get(person, frozenset())
        if old != new:
            changes.append(Change(ENROLLMENT_CHANGED, now.household_id, person,
                                  now.village_code, {"before": _listed(old),
                                                     "after": _listed(new)}))
    return changes


def removed(persons: Iterable[tuple[int, int | None, str | None]]) -> list[Change]:
    """Persons deleted (all their records now belong to someone else): each leaves
    its household."""
    return [Change(MEMBER_REMOVED, household, person, village, {"to_household": None})
            for person, household, village in persons if household is not None]


def _listed(enrolments: Enrolments) -> list[dict[str, str]]:
    return [{"program": program, "status": status} for program, status in sorted(enrolments)]
