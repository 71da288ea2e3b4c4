"""The SLRT workflow's rules: legal steps and who takes them, SLAs, tickets, codes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.domain.referrals import (
    SETTLED,
    TRANSITIONS,
    Desk,
    IllegalTransition,
    ReferralStatus,
    Sla,
    check_transition,
    ticket_number,
    verification_code,
)

S = ReferralStatus


@pytest.mark.parametrize(("current", "target", "desk"), [
    (S.RECOMMENDED, S.APPROVED, Desk.MANAGER),
    (S.RECOMMENDED, S.RETURNED, Desk.MANAGER),
    (S.RETURNED, S.RECOMMENDED, Desk.BACK_OFFICE),
    (S.APPROVED, S.REFERRED, Desk.HUB),
    (S.REFERRED, S.ACCEPTED, Desk.AGENCY),
    (S.REFERRED, S.REJECTED, Desk.AGENCY),
    (S.ACCEPTED, S.FULFILLED, Desk.AGENCY),
    (S.FULFILLED, S.MONITORED, Desk.MONITOR),
    (S.FULFILLED, S.MONITORED, Desk.BACK_OFFICE),
])
def test_the_workflow_steps(current, target, desk) -> None:
    check_transition(current, target, desk, "a reason")


def test_every_other_step_is_refused_with_the_next_steps_named() -> None:
    legal = {(c, t) for c, targets in TRANSITIONS.items() for t in targets}
    for current in S:
        for target in S:
            if (current, target) in legal:
                continue
            with pytest.raises(IllegalTransition) as refused:
                check_transition(current, target, Desk.MANAGER, "x")
            assert current.value in str(refused.value)
            assert "next steps" in str(refused.value)
    with pytest.raises(IllegalTransition, match="settled"):
        check_transition(S.MONITORED, S.FULFILLED, Desk.AGENCY, None)


def test_the_wrong_desk_and_a_missing_reason_are_refused() -> None:
    with pytest.raises(IllegalTransition, match="for the manager, not the agency"):
        check_transition(S.RECOMMENDED, S.APPROVED, Desk.AGENCY, None)
    with pytest.raises(IllegalTransition, match="for the agency"):
        check_transition(S.REFERRED, S.ACCEPTED, Desk.BACK_OFFICE, None)
    for target, current, desk in ((S.RETURNED, S.RECOMMENDED, Desk.MANAGER),
                                  (S.REJECTED, S.REFERRED, Desk.AGENCY)):
        with pytest.raises(IllegalTransition, match="needs a reason"):
            check_transition(current, target, desk, "  ")


def test_settled_statuses_have_no_way_back() -> None:
    for status in SETTLED - {S.FULFILLED}:
        assert not TRANSITIONS.get(status)


def test_sla_emergencies_are_due_in_four_hours() -> None:
    sla = Sla(emergency_hours=4, first_response_hours=24)
    now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    assert sla.first_response_due(now, "EMERGENCY") == now + timedelta(hours=4)
    assert sla.first_response_due(now, "NORMAL") == now + timedelta(hours=24)
    assert sla.referral_due(now, "URGENT", 72) == now + timedelta(hours=72)
    assert sla.referral_due(now, "EMERGENCY", 72) == now + timedelta(hours=4)


def test_ticket_and_verification_code_shapes() -> None:
    now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    assert ticket_number("33.14", now, 42) == "SLRT-3314-20261123-000042"
    code = verification_code("secret", 7, "SLRT-3314-20261123-000042", "KIS_PBI")
    assert len(code) == 11
    assert code[5] == "-"
    assert code == verification_code("secret", 7, "SLRT-3314-20261123-000042", "KIS_PBI")
    assert code != verification_code("other", 7, "SLRT-3314-20261123-000042", "KIS_PBI")
    assert code != verification_code("secret", 7, "SLRT-3314-20261123-000042", "PIP")
    assert not set(code) & set("018")
