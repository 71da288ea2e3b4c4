"""Row-level access, applied to every object the graph returns, on every path.

Resolvers filter by region in SQL so that pages and counts are right; this guard is
the rule itself, in one place (installed into the schema's resolvers when it is
built, `install`): whatever field a person, household, finding, review
task or enrollment arrives through (a root look-up, `household { members }`,
`finding { person }`, an edge of a connection), it is checked against the client's
region scope and agency before it is serialised. What passes is noted as a subject
for the audit log. An object out of scope reads as absent: null where the field may be
null, dropped from lists, and an error (never the object) where null is not allowed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from inspect import isawaitable
from operator import attrgetter
from typing import Any

from graphql import (
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    default_field_resolver,
    get_named_type,
)

from hub.errors import ForbiddenError

Check = Callable[[Any, Any], bool]  # (object, context) -> visible


@dataclass(frozen=True, slots=True)
class SubjectKinds:
    """How the audit log names a subject the request saw, and one it was refused."""

    seen: str
    withheld: str


# The read planner (hub.schema.planner) applies the same rule to rows it reads itself.
SUBJECT_KINDS = {"Person": SubjectKinds("person", "withheld"),
                 "Household": SubjectKinds("household", "withheld_h")}


def _regional(kinds: SubjectKinds, region: str, identifier: str) -> Check:
    read_region, read_identifier = attrgetter(region), attrgetter(identifier)

    def check(subject: Any, context: Any) -> bool:
        if not context.principal.scope.allows(read_region(subject)):
            # Withheld, but the attempt is the citizen's to know (their audit trail).
            context.audit.note(kinds.withheld, int(subject.id), read_identifier(subject))
            return False
        context.audit.note(kinds.seen, int(subject.id), read_identifier(subject))
        return True

    return check


_person = _regional(SUBJECT_KINDS["Person"], "region_code", "nik")
_household = _regional(SUBJECT_KINDS["Household"], "village_code", "kk")


def _finding(finding: Any, context: Any) -> bool:
    principal = context.principal
    if not principal.scope.allows(finding.region_code):
        return False
    if principal.agency is not None and finding.owner_agency != principal.agency:
        return False
    context.audit.note("person", finding.subject_id, None)
    return True


def _review_task(task: Any, context: Any) -> bool:
    """A task shows two persons (its record's and the candidate): both must be in scope."""
    scope = context.principal.scope
    if not (scope.allows(task.record_region) and scope.allows(task.candidate_region)):
        return False
    context.audit.note("person", task.candidate_person_id, None)
    if task.record_person_id is not None:
        context.audit.note("person", task.record_person_id, None)
    return True


def _enrollment(enrollment: Any, context: Any) -> bool:
    principal = context.principal
    return principal.agency is None or principal.owns_source(enrollment.source)


def _eligibility(result: Any, context: Any) -> bool:
    if result.person_id is None:
        return True  # not found or invalid: nothing about a person in it
    if not context.principal.scope.allows(result.region_code):
        return False
    context.audit.note("person", result.person_id, result.nik)
    return True


def _case(case: Any, context: Any) -> bool:
    if not context.principal.scope.allows(case.region_code):
        return False
    if case.person_id is not None:
        context.audit.note("person", case.person_id, case.nik)
    else:  # a person the registry does not hold yet: the NIK as given
        context.audit.note("case", int(case.id), case.nik)
    return True


def _referral(referral: Any, context: Any) -> bool:
    principal = context.principal
    if not principal.scope.allows(referral.region_code):
        return False
    return principal.agency is None or referral.agency == principal.agency


def _edge_of(check: Check) -> Check:
    return lambda edge, context: check(edge.node, context)


CHECKS: dict[str, Check] = {
    "Person": _person,
    "Household": _household,
    "HouseholdEdge": _edge_of(_household),
    "Finding": _finding,
    "FindingEdge": _edge_of(_finding),
    "ReviewTask": _review_task,
    "Enrollment": _enrollment,
    "EligibilityResult": _eligibility,
    "ServiceCase": _case,
    "CaseEdge": _edge_of(_case),
    "Referral": _referral,
    "ReferralEdge": _edge_of(_referral),
}

def install(schema: GraphQLSchema) -> int:
    """Wrap the resolver of every field whose type needs a check, once, when the schema
    is built: the guard then runs on exactly those fields, and scalar fields (most of a
    response) pay nothing. Returns how many fields were wrapped."""
    wrapped = 0
    for graphql_type in schema.type_map.values():
        if not isinstance(graphql_type, GraphQLObjectType) or graphql_type.name.startswith("__"):
            continue
        for field in graphql_type.fields.values():
            check = CHECKS.get(get_named_type(field.type).name)
            if check is None:
                continue
            required = isinstance(field.type, GraphQLNonNull)
            field.resolve = _guarded(field.resolve or default_field_resolver, check, required)
            wrapped += 1
    return wrapped


def _guarded(resolve: Any, check: Check, required: bool) -> Any:
    def guarded(root: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
        result = resolve(root, info, **args)
        if isawaitable(result):
            return _checked_later(result, check, required, info)
        return _checked(result, check, required, info)

    return guarded


async def _checked_later(result: Any, check: Check, required: bool,
                         info: GraphQLResolveInfo) -> Any:
    return _checked(await result, check, required, info)


def _checked(result: Any, check: Check, required: bool, info: GraphQLResolveInfo) -> Any:
    if result is None:
        return None
    context = info.context
    if isinstance(result, list):
        return [item for item in result if item is not None and check(item, context)]
    if check(result, context):
        return result
    if required:
        raise ForbiddenError(f"{info.field_name} is outside this client's access")
    return None
