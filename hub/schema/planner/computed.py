"""Root fields computed in Python (eligibility), answered without graphql-core's
completion of every object.

An `eligibilityBatch` of 10,000 NIKs is 10,000 objects of ten fields: graphql-core
resolves, checks and completes each field one by one, which took most of a batch's
time (about 0.4 s of CPU) while the rules themselves took a tenth of it. Here the
service computes the same objects the resolver would return (`EligibilityResult.of`),
the guard's own check runs on each, and the selection is read off them by attribute and
serialised by the schema's own leaf types: the same bytes, with far fewer calls.

Only plain attribute fields are completed this way (a field with a resolver of its
own, arguments or an unknown shape raises Unsupported at planning, and the resolvers
answer); anything the resolvers would refuse (an unknown programme, a batch over the
limit, a malformed NIK in a single check) steps aside at run time so the client sees
the resolvers' own error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from operator import attrgetter
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    is_leaf_type,
)
from graphql.execution.values import VariableValues
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.access.audit import Subject
from hub.access.guard import CHECKS
from hub.access.roles import Principal, Role
from hub.config import EligibilitySettings
from hub.errors import BadUserInput
from hub.schema.arguments import valid_nik
from hub.schema.eligibility import EligibilityResult
from hub.schema.planner.selection import Unsupported, collect
from hub.services.eligibility import check, rule_of

COMPUTED_ROOTS = frozenset({"eligibility", "eligibilityBatch"})


class StepAside(Exception):
    """The resolvers must answer this request (they give the error a client expects)."""


Read = Callable[[Any], Any]  # an object's (or a value's) completed value


class _NullRefused(Exception):
    """A null where the schema refuses one: the resolvers report it as GraphQL does."""


@dataclass(frozen=True)
class Shape:
    """What a selection reads off one object, compiled once per plan: each response
    key in order, and the function that completes its value from the object."""

    fields: tuple[tuple[str, Read], ...]

    def complete(self, value: Any) -> dict[str, Any]:
        return {key: read(value) for key, read in self.fields}


def _plain_attribute(field: Any) -> str:
    definition = (field.extensions or {}).get("strawberry-definition")
    if definition is None or not definition.is_basic_field or \
            definition.default_resolver is not getattr or field.args:
        raise Unsupported("a field with a resolver or arguments of its own")
    return str(definition.python_name)


def _nullable(complete_value: Read, required: bool) -> Read:
    def completed(value: Any) -> Any:
        if value is None:
            if required:
                raise _NullRefused
            return None
        return complete_value(value)

    return completed


def _typed(graphql_type: Any, nodes: list[FieldNode], schema: GraphQLSchema,
           fragments: Mapping[str, FragmentDefinitionNode], variables: VariableValues
           ) -> Read:
    """How a value of this type is completed (GraphQL's CompleteValue, for the types a
    computed answer has)."""
    required = isinstance(graphql_type, GraphQLNonNull)
    inner = graphql_type.of_type if required else graphql_type
    if isinstance(inner, GraphQLList):
        item = _typed(inner.of_type, nodes, schema, fragments, variables)
        return _nullable(lambda values: [item(v) for v in values], required)
    if is_leaf_type(inner):
        if any(node.selection_set for node in nodes):
            raise Unsupported("a selection on a leaf")
        return _nullable(inner.serialize, required)
    if isinstance(inner, GraphQLObjectType) and inner.name not in CHECKS:
        shape = shape_of(schema, inner, [n.selection_set for n in nodes], fragments,
                         variables)
        return _nullable(shape.complete, required)
    raise Unsupported(f"type {inner}")


def shape_of(schema: GraphQLSchema, object_type: GraphQLObjectType, selection_sets: list[Any],
             fragments: Mapping[str, FragmentDefinitionNode], variables: VariableValues
             ) -> Shape:
    fields: list[tuple[str, Read]] = []
    for key, nodes in collect(selection_sets, object_type.name, fragments,
                              variables).items():
        name = nodes[0].name.value
        if name == "__typename":
            fields.append((key, lambda _value, typename=object_type.name: typename))
            continue
        if name.startswith("__") or name not in object_type.fields:
            raise Unsupported(f"{object_type.name}.{name}")
        if any(node.arguments for node in nodes):
            raise Unsupported("arguments on a computed object's field")
        field = object_type.fields[name]
        read = attrgetter(_plain_attribute(field))
        complete_value = _typed(field.type, nodes, schema, fragments, variables)
        fields.append((key, lambda value, read=read, complete_value=complete_value:
                       complete_value(read(value))))
    if not fields:
        raise Unsupported("nothing selected")
    return Shape(tuple(fields))


@dataclass(frozen=True)
class _Audit:
    notes: list[Subject]

    def note(self, kind: str, subject_id: int, identifier: str | None) -> None:
        self.notes.append((kind, subject_id, identifier))


@dataclass(frozen=True)
class _GuardContext:
    principal: Principal
    audit: _Audit


@dataclass(frozen=True)
class ComputedRoot:
    """`eligibility` or `eligibilityBatch` under its response key, with the shape of
    each answer the client selected."""

    key: str
    field: FieldNode
    batch: bool
    shape: Shape

    async def answer(self, engine: AsyncEngine, settings: EligibilitySettings,
                     arguments: dict[str, Any], principal: Principal,
                     notes: list[Subject]) -> Any:
        program = arguments["program"]
        if program not in settings.programs:
            raise StepAside  # the resolver's BadUserInput names the known programmes
        if self.batch:
            niks = arguments["niks"]
            if len(niks) > settings.max_batch:
                raise StepAside
        else:
            try:
                niks = [valid_nik(arguments["nik"])]
            except BadUserInput:
                raise StepAside from None
        rule = rule_of(program, settings.programs[program])
        items = await check(engine, rule, niks, principal.scope, date.today())
        partner = principal.role is Role.PARTNER
        results = [EligibilityResult.of(program, item, partner=partner) for item in items]
        guard = CHECKS["EligibilityResult"]
        context = _GuardContext(principal, _Audit(notes))
        visible = [result for result in results if guard(result, context)]
        if not self.batch and not visible:
            raise StepAside  # the resolver's error for a required field out of access
        try:
            answers = [self.shape.complete(result) for result in visible]
        except _NullRefused:
            raise StepAside from None
        return answers if self.batch else answers[0]


def computed_root(schema: GraphQLSchema, key: str, node: FieldNode,
                  fragments: Mapping[str, FragmentDefinitionNode],
                  variables: VariableValues) -> ComputedRoot:
    name = node.name.value
    result_type = schema.type_map["EligibilityResult"]
    assert isinstance(result_type, GraphQLObjectType)
    shape = shape_of(schema, result_type, [node.selection_set], fragments, variables)
    return ComputedRoot(key, node, name == "eligibilityBatch", shape)
