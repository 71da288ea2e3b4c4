"""What each role may read and do, field by field: the one place these rules live.

A request that selects a field its role may not use is refused whole, before anything
runs, with the field named (a validation rule, cached per document and role). Which
rows a client sees (its regions, its agency's programme) is the guard's job
(`hub.access.guard`); this table only says which fields exist for a role at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from hub.access.roles import Role

ALL: Literal["*"] = "*"
TypeRules = Mapping[str, frozenset[str] | Literal["*"]]


def _fields(*names: str) -> frozenset[str]:
    return frozenset(names)


REGION_NAMES = _fields("code", "name", "level", "parent", "children")
STATISTICS: TypeRules = {
    "RegionStatistics": ALL, "DesilCount": ALL, "ProgramCoverage": ALL,
    "ServiceStats": ALL, "ServiceTiming": ALL, "CategoryFigures": ALL,
    "AgencyServiceFigures": ALL, "CoverageGap": ALL,
}
IDENTITY = _fields("id", "nik", "name", "sex", "birthDate", "alive", "deathDate")
PAGES: TypeRules = {"PageInfo": ALL}

# Eligibility answers: everyone who may check sees these; only partners lose the full NIK.
ELIGIBILITY: TypeRules = {"EligibilityResult": ALL, "EligibilityReason": ALL,
                          "EligibilityProgram": ALL}
ELIGIBILITY_QUERIES = _fields("eligibility", "eligibilityBatch", "eligibilityPrograms")

# The SLRT desk: cases, referrals and their history, and the service catalogue.
DESK: TypeRules = {"ServiceCase": ALL, "CaseConnection": ALL, "CaseEdge": ALL,
                   "Referral": ALL, "ReferralConnection": ALL, "ReferralEdge": ALL,
                   "ReferralEvent": ALL, "DeskService": ALL}

# A district's Dinas Sosial runs the hub for its region: everything there.
DISTRICT: TypeRules = {"Query": ALL, "Mutation": ALL, "Subscription": ALL, "*": ALL}

# Kemensos reads everything everywhere, and writes only what is national business.
NATIONAL: TypeRules = {"Query": ALL, "Mutation": _fields("resolveFinding"), "Subscription": ALL,
                       "*": ALL}

# A village facilitator / Puskesos registers cases, follows them up, and finds the
# people they serve.

FACILITATOR: TypeRules = {
    "Query": _fields("person", "household", "households", "region", "regencies",
                     "serviceCase", "serviceCases", "referrals", "searchPersons",
                     "deskServices") | ELIGIBILITY_QUERIES,
    "Mutation": _fields("registerCase", "monitorReferral"),
    "Subscription": _fields("referralUpdates"),
    "Person": IDENTITY | {"birthPlace", "relation", "household", "enrollments"},
    "Household": _fields("id", "kk", "villageCode", "address", "desil", "members", "head",
                         "village"),
    "HouseholdConnection": ALL, "HouseholdEdge": ALL, **PAGES,
    "Enrollment": ALL,
    "Region": REGION_NAMES | {"statistics", "households", "serviceStats"}, **STATISTICS,
    **ELIGIBILITY,
    **DESK,
}

# An agency (BPJS, education, Dukcapil, Baznas) acts on its own programme: who is
# enrolled, the findings it owns, the referrals addressed to it, and the identity
# needed to act on them.
AGENCY: TypeRules = {
    "Query": _fields("person", "region", "regencies", "findings", "findingCounts",
                     "referrals", "deskServices") | ELIGIBILITY_QUERIES,
    "Mutation": _fields("resolveFinding", "acceptReferral", "rejectReferral",
                        "fulfillReferral"),
    "Subscription": _fields("referralUpdates"),
    "Referral": ALL, "ReferralConnection": ALL, "ReferralEdge": ALL, "ReferralEvent": ALL,
    "DeskService": ALL,
    # What an agency needs to act on a referral: not the case's handling at the desk,
    # nor whether the household is in DTKS (homeVisit).
    "ServiceCase": _fields("id", "ticket", "category", "urgency", "description", "person"),
    "Person": IDENTITY | {"enrollments"},
    "Enrollment": ALL,
    "Finding": ALL, "FindingConnection": ALL, "FindingEdge": ALL, "FindingCount": ALL,
    **PAGES,
    "Region": REGION_NAMES, **ELIGIBILITY,
}

# A partner (Baznas, CSR) checks eligibility before giving aid: nothing else, and sees
# a masked NIK, the decision, a desil band and overlap flags; no name, address, health
# or child data.
PARTNER: TypeRules = {
    "Query": ELIGIBILITY_QUERIES,
    "EligibilityResult": _fields("index", "maskedNik", "status", "problem", "program",
                                 "decision", "reasons", "desilBand", "overlaps"),
    "EligibilityReason": ALL, "EligibilityProgram": ALL,
}

POLICIES: Mapping[Role, TypeRules] = {
    Role.NATIONAL: NATIONAL, Role.DISTRICT: DISTRICT, Role.FACILITATOR: FACILITATOR,
    Role.AGENCY: AGENCY, Role.PARTNER: PARTNER,
}

# Roles that may read the schema itself (when the server allows introspection at all).
INTROSPECTING = frozenset({Role.NATIONAL, Role.DISTRICT, Role.FACILITATOR, Role.AGENCY})


def allows(role: Role, type_name: str, field_name: str) -> bool:
    rules = POLICIES[role]
    fields = rules.get(type_name)
    if fields is None and type_name not in ("Query", "Mutation", "Subscription"):
        fields = rules.get("*")
    return fields is not None and (fields == ALL or field_name in fields)


def _described(fields: frozenset[str] | Literal["*"]) -> str:
    return "all fields" if fields == ALL else ", ".join(f"`{f}`" for f in sorted(fields))


def markdown_table() -> str:
    """Every role's rules as docs/access.md shows them (`tests/access/test_rules.py` checks
    that the page holds exactly this, so the two cannot drift apart)."""
    lines = ["| role | type | fields |", "| --- | --- | --- |"]
    for role, rules in POLICIES.items():
        for type_name in sorted(rules, key=lambda t: (t not in ("Query", "Mutation",
                                                                "Subscription"), t)):
            shown = "every other type" if type_name == "*" else f"`{type_name}`"
            lines.append(f"| `{role.value}` | {shown} | {_described(rules[type_name])} |")
    return "\n".join(lines)


if __name__ == "__main__":  # python -m hub.access.policy > the access page's generated table
    print(markdown_table())
