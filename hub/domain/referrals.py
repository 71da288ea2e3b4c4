"""The SLRT desk's rules, pure: which referral steps are legal and who takes them, when
an answer is due, and the shapes of a ticket number and a letter's verification code.

A referral moves RECOMMENDED -> APPROVED | RETURNED -> REFERRED -> ACCEPTED | REJECTED
-> FULFILLED -> MONITORED (Permensos 15/2018; the Kemensos FO-BO application). A
RETURNED referral goes back to the back office, which may recommend it again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class ReferralStatus(StrEnum):
    RECOMMENDED = "RECOMMENDED"
    APPROVED = "APPROVED"
    RETURNED = "RETURNED"
    REFERRED = "REFERRED"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    FULFILLED = "FULFILLED"
    MONITORED = "MONITORED"


class Desk(StrEnum):
    """Who acts: the SLRT desks of the district, the receiving agency, the hub itself."""

    BACK_OFFICE = "BACK_OFFICE"
    MANAGER = "MANAGER"
    AGENCY = "AGENCY"
    HUB = "HUB"
    MONITOR = "MONITOR"  # back office or village facilitator following up


S = ReferralStatus
TRANSITIONS: dict[ReferralStatus, dict[ReferralStatus, Desk]] = {
    S.RECOMMENDED: {S.APPROVED: Desk.MANAGER, S.RETURNED: Desk.MANAGER},
    S.RETURNED: {S.RECOMMENDED: Desk.BACK_OFFICE},
    S.APPROVED: {S.REFERRED: Desk.HUB},
    S.REFERRED: {S.ACCEPTED: Desk.AGENCY, S.REJECTED: Desk.AGENCY},
    S.ACCEPTED: {S.FULFILLED: Desk.AGENCY},
    S.FULFILLED: {S.MONITORED: Desk.MONITOR},
}
# Needs a reason: a manager's return and an agency's rejection must say why.
NEEDS_REASON = frozenset({S.RETURNED, S.REJECTED})
# Settled referrals no longer hold their case open.
SETTLED = frozenset({S.REJECTED, S.FULFILLED, S.MONITORED})
# The agency's clock runs from these; it stops when the referral is settled.
WITH_AGENCY = frozenset({S.REFERRED, S.ACCEPTED})


class IllegalTransition(ValueError):
    """A step the workflow does not allow; the message names the ones it does."""


def check_transition(current: ReferralStatus, target: ReferralStatus, desk: Desk,
                     reason: str | None) -> None:
    allowed = TRANSITIONS.get(current, {})
    if target not in allowed:
        options = ", ".join(sorted(allowed)) or "none (the referral is settled)"
        raise IllegalTransition(f"a {current.value} referral cannot become {target.value}; "
                                f"next steps: {options}")
    if allowed[target] is not desk and not (allowed[target] is Desk.MONITOR
                                            and desk is Desk.BACK_OFFICE):
        raise IllegalTransition(f"{current.value} -> {target.value} is for the "
                                f"{allowed[target].value.replace('_', ' ').lower()}, "
                                f"not the {desk.value.replace('_', ' ').lower()}")
    if target in NEEDS_REASON and not (reason and reason.strip()):
        raise IllegalTransition(f"{target.value} needs a reason")


@dataclass(frozen=True, slots=True)
class Sla:
    """How long an answer may take: the first response to a case, and an agency's
    fulfilment of a referral. An emergency is answered within `emergency_hours`
    (Banyuwangi's promise: 4 hours)."""

    emergency_hours: float = 4.0
    first_response_hours: float = 24.0

    def first_response_due(self, registered: datetime, urgency: str) -> datetime:
        hours = self.emergency_hours if urgency == "EMERGENCY" else self.first_response_hours
        return registered + timedelta(hours=hours)

    def referral_due(self, referred: datetime, urgency: str, service_hours: float) -> datetime:
        hours = self.emergency_hours if urgency == "EMERGENCY" else service_hours
        return referred + timedelta(hours=hours)


def ticket_number(regency: str, registered: datetime, number: int) -> str:
    """SLRT-3314-20261123-000042: the regency, the day, and a number; short enough to
    read over the phone."""
    return f"SLRT-{regency.replace('.', '')}-{registered:%Y%m%d}-{number:06d}"


def verification_code(secret: str, referral_id: int, ticket: str, service: str) -> str:
    """The code printed on a referral letter: an HMAC of what the letter says, so an
    agency's desk can check a paper letter is genuine without a copy of the database.
    Ten base32 characters (no 0, 1 or 8 to misread) in two groups of five."""
    digest = hmac.new(secret.encode(), f"{referral_id}|{ticket}|{service}".encode(),
                      hashlib.sha256).digest()
    code = base64.b32encode(digest).decode()[:10]
    return f"{code[:5]}-{code[5:]}"


_CODE = re.compile(r"[A-Z2-7]{5}-[A-Z2-7]{5}")


def looks_like_code(text: str) -> bool:
    """Whether `text` has the shape of a verification code (what a desk types in, any
    case): anything else is no letter of ours, and need not reach the database."""
    return bool(_CODE.fullmatch(text.strip().upper()))
