"""What of a finding's evidence a client may read: the same rules as fields, applied to
the facts a finding quotes.

A finding's evidence quotes records and golden facts as reconciliation saw them: the
desil, other agencies' records, other persons. Served whole, it would be a side door
past the field rules (an AGENCY reading an exact desil it may not read on `Household`)
and past region scope (a person id in another kecamatan). This module is pure: the
caller says which of the persons named are in scope.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from hub.access import policy
from hub.access.roles import Principal

# Evidence keys that carry a field some role may not read: (type, field) it stands for.
_GUARDED_FACTS: dict[str, tuple[str, str]] = {
    "desil": ("Household", "desil"),
    "civil_registry_kk": ("Household", "kk"),
    "died_per": ("Person", "lineage"),
}


def _own_record(principal: Principal, value: Any) -> bool:
    """Records of other agencies are hidden from an AGENCY client, as their enrolments
    are on `Person.enrollments`."""
    if principal.agency is None or not isinstance(value, dict) or "source" not in value:
        return True
    return principal.owns_source(str(value["source"]))


def visible_evidence(evidence: dict[str, Any] | None, principal: Principal,
                     persons_in_scope: Collection[int]) -> dict[str, Any]:
    """The evidence as `principal` may read it: facts of fields its role may not read
    left out, other agencies' records left out for an AGENCY, and other persons only
    where they lie in its regions."""
    shown: dict[str, Any] = {}
    role = principal.role
    for key, value in (evidence or {}).items():
        guarded = _GUARDED_FACTS.get(key)
        if guarded is not None and not policy.allows(role, *guarded):
            continue
        if key == "enrollments" and principal.agency is not None:
            continue  # the other programmes a person receives
        if key == "other_persons":
            value = [p for p in value or () if p in persons_in_scope]
        elif isinstance(value, list):
            value = [item for item in value if _own_record(principal, item)]
        elif not _own_record(principal, value):
            continue
        shown[key] = value
    return shown


def persons_named(evidence: dict[str, Any] | None) -> list[int]:
    """The other persons a finding's evidence names, whose scope the caller looks up."""
    named = (evidence or {}).get("other_persons") or ()
    return [p for p in named if isinstance(p, int)]
