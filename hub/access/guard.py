"""Row-level access, applied to every object the graph returns, on every path.

Resolvers filter by region in SQL so that pages and counts are right; this guard is
the rule itself, in one place: whatever field a person, household, finding, review
task or enrollment arrives through (a root look-up, `household { members }`,
`finding { person }`, an edge of a connection), it is checked against the client's
region scope and agency before it is serialised. What passes is noted as a subject
for the audit log. An object out of scope reads as absent: null where the field may be
null, dropped from lists, and an error (never the object) where null is not allowed.
"""

from __future__ import annotations

from collections.abc import Callable
from inspect import isawaitable
from typing import Any

from graphql import GraphQLNonNull, GraphQLResolveInfo, get_named_type

from hub.schema.errors import HubError

Check = Callable[[Any, Any], bool]  # (object, context) -> visible


class ForbiddenError(HubError):
    code = "FORBIDDEN"


def _person(person: Any, context: Any) -> bool:
    if not context.principal.scope.allows(person.region_code):
        return False
    context.audit.note("person", int(person.id), person.nik)
    return True


def _household(household: Any, context: Any) -> bool:
    if not context.principal.scope.allows(household.village_code):
        return False
    context.audit.note("household", int(household.id), household.kk)
    return True


def _finding(finding: Any, context: Any) -> bool:
    principal = context.principal
    if not principal.scope.allows(finding.region_code):
        return False
    if principal.agency is not None and finding.owner_agency != principal.agency:
        return False
    context.audit.note("person", finding.subject_id, None)
    return True


def _review_task(task: Any, context: Any) -> bool:
    if not context.principal.scope.allows(task.region_code):
        return False
    context.audit.note("person", task.candidate_person_id, None)
    return True


def _enrollment(enrollment: Any, context: Any) -> bool:
    principal = context.principal
    return principal.agency is None or principal.owns_source(enrollment.source)


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
}

_UNGUARDED = object()


class ScopeGuard:
    """graphql-core middleware. Fields whose type needs no check pass straight through
    (one dict look-up), so the guard costs next to nothing on scalar fields."""

    def __init__(self) -> None:
        self._plans: dict[tuple[str, str], Any] = {}

    def resolve(self, next_: Any, root: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
        key = (info.parent_type.name, info.field_name)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._plan(info)
        result = next_(root, info, **args)
        if plan is _UNGUARDED:
            return result
        if isawaitable(result):
            return self._checked_later(result, plan, info)
        return self._checked(result, plan, info)

    @staticmethod
    def _plan(info: GraphQLResolveInfo) -> Any:
        check = CHECKS.get(get_named_type(info.return_type).name)
        if check is None:
            return _UNGUARDED
        return check, isinstance(info.return_type, GraphQLNonNull)

    async def _checked_later(self, result: Any, plan: Any, info: GraphQLResolveInfo) -> Any:
        return self._checked(await result, plan, info)

    @staticmethod
    def _checked(result: Any, plan: tuple[Check, bool], info: GraphQLResolveInfo) -> Any:
        check, required = plan
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
