"""Registry change history from one reconciliation batch, pure."""

from __future__ import annotations

from hub.domain import changes
from hub.domain.changes import PersonState, registry_changes


def _kinds(found: list[changes.Change]) -> list[tuple[str, int | None, int | None]]:
    return [(c.kind, c.household_id, c.person_id) for c in found]


def test_a_new_household_is_one_event_whatever_its_members_bring() -> None:
    before = {1: PersonState(None, True, None), 2: PersonState(None, True, None)}
    after = {1: PersonState(10, True, 2, "33.14.05.2001"),
             2: PersonState(10, False, 2, "33.14.05.2001")}
    found = registry_changes(before, after, {10}, {}, {2: frozenset({("PKH", "ACTIVE")})})
    assert _kinds(found) == [(changes.NEW_HOUSEHOLD, 10, None)]
    assert found[0].region_code == "33.14.05.2001"


def test_moving_between_existing_households_removes_and_adds() -> None:
    before = {1: PersonState(10, True, 3, "A")}
    after = {1: PersonState(11, True, 5, "B")}
    found = registry_changes(before, after, set(), {}, {})
    assert _kinds(found) == [(changes.MEMBER_REMOVED, 10, 1), (changes.MEMBER_ADDED, 11, 1)]
    assert found[0].region_code == "A"
    assert found[1].region_code == "B"
    assert found[1].detail == {"from_household": 10}


def test_desil_death_and_enrolment_changes_in_a_kept_household() -> None:
    before = {1: PersonState(10, True, 3), 2: PersonState(10, True, 3)}
    after = {1: PersonState(10, False, 5), 2: PersonState(10, True, 5)}
    found = registry_changes(
        before, after, set(),
        {1: frozenset({("PBI_JKN", "ACTIVE")}), 2: frozenset({("PKH", "ACTIVE")})},
        {1: frozenset({("PBI_JKN", "ACTIVE")}), 2: frozenset({("PKH", "INACTIVE")})})
    assert _kinds(found) == [(changes.DESIL_CHANGED, 10, None), (changes.DEATH, 10, 1),
                             (changes.ENROLLMENT_CHANGED, 10, 2)]
    assert found[0].detail == {"from": 3, "to": 5}  # told once for the household
    assert found[2].detail["after"] == [{"program": "PKH", "status": "INACTIVE"}]


def test_nothing_changed_is_no_event() -> None:
    state = {1: PersonState(10, True, 3)}
    assert registry_changes(state, state, set(), {1: frozenset()}, {1: frozenset()}) == []
    assert changes.household_kept(state[1], state[1], set())
    assert not changes.household_kept(None, state[1], set())
    assert not changes.household_kept(state[1], state[1], {10})


def test_removed_persons_leave_their_household() -> None:
    found = changes.removed([(1, 10, "A"), (2, None, None)])
    assert _kinds(found) == [(changes.MEMBER_REMOVED, 10, 1)]
