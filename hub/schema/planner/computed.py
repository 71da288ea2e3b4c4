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
    GraphQLEnumType,
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


Column = Callable[[list[Any]], list[Any]]  # values of one type -> their completed values


class _NullRefused(Exception):
    """A null where the schema refuses one: the resolvers report it as GraphQL does."""


@dataclass(frozen=True)
class Shape:
    """What a selection reads off one object, compiled once per plan: each response
    key in order, and the function that completes that field over a whole list of
    objects at once.

    Column by column rather than object by object: a batch's 10,000 answers of ten
    fields each were 100,000 calls through a reader, a null check and a serializer
    (0.15 s); a field's attribute is now read off every object by one `map`, and only
    values whose type a leaf serializer would change go through it."""

    fields: tuple[tuple[str, Column], ...]

    def complete_all(self, values: list[Any]) -> list[dict[str, Any]]:
        keys = [key for key, _ in self.fields]
        columns = [column(values) for _, column in self.fields]
        return [dict(zip(keys, row, strict=True)) for row in zip(*columns, strict=True)]


def _plain_attribute(field: Any) -> str:
    definition = (field.extensions or {}).get("strawberry-definition")
    if definition is None or not definition.is_basic_field or \
            definition.default_resolver is not getattr or field.args:
        raise Unsupported("a field with a resolver or arguments of its own")
    return str(definition.python_name)


_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1


def _leaf(leaf: Any) -> Callable[[Any], Any]:
    """The leaf type's serializer, with its answer for the commonest values taken
    without a call where that answer is the value itself (a str as String or ID, a
    bool as Boolean, a 32-bit int as Int) or was already computed (an enum member):
    the same output as `serialize`, which every other value still goes through."""
    serialize = leaf.serialize
    if isinstance(leaf, GraphQLEnumType):
        known: dict[tuple[type, Any], Any] = {}

        def enum(value: Any) -> Any:
            key = (value.__class__, value)
            try:
                found = known.get(key)
            except TypeError:  # unhashable: never a member
                return serialize(value)
            if found is None:
                found = known[key] = serialize(value)
            return found

        return enum
    name = leaf.name
    if name in ("String", "ID"):
        return lambda value: value if value.__class__ is str else serialize(value)
    if name == "Boolean":
        return lambda value: value if value.__class__ is bool else serialize(value)
    if name == "Int":
        return lambda value: (value if value.__class__ is int and _INT_MIN <= value <= _INT_MAX
                              else serialize(value))
    return serialize


def _refuse_nulls(values: list[Any]) -> None:
    if None in values:
        raise _NullRefused


def _typed(graphql_type: Any, nodes: list[FieldNode], schema: GraphQLSchema,
           fragments: Mapping[str, FragmentDefinitionNode], variables: VariableValues
           ) -> Column:
    """How values of this type are completed (GraphQL's CompleteValue, for the types a
    computed answer has), a list of them at a time."""
    required = isinstance(graphql_type, GraphQLNonNull)
    inner = graphql_type.of_type if required else graphql_type
    if isinstance(inner, GraphQLList):
        item = _typed(inner.of_type, nodes, schema, fragments, variables)

        def lists(values: list[Any]) -> list[Any]:
            """Each distinct list object completed once: answers that share one (the
            reasons of a shared outcome) share its completed list."""
            if required:
                _refuse_nulls(values)
            distinct = {id(value): value for value in values if value is not None}
            done = iter(item([v for value in distinct.values() for v in value]))
            completed = {key: [next(done) for _ in value] for key, value in distinct.items()}
            return [None if value is None else completed[id(value)] for value in values]

        return lists
    if is_leaf_type(inner):
        if any(node.selection_set for node in nodes):
            raise Unsupported("a selection on a leaf")
        serialize = _leaf(inner)

        def leaves(values: list[Any]) -> list[Any]:
            if required:
                _refuse_nulls(values)
            return [None if value is None else serialize(value) for value in values]

        return leaves
    if isinstance(inner, GraphQLObjectType) and inner.name not in CHECKS:
        shape = shape_of(schema, inner, [n.selection_set for n in nodes], fragments,
                         variables)

        def objects(values: list[Any]) -> list[Any]:
            if required:
                _refuse_nulls(values)
            done = iter(shape.complete_all([v for v in values if v is not None]))
            return [None if value is None else next(done) for value in values]

        return objects
    raise Unsupported(f"type {inner}")


def shape_of(schema: GraphQLSchema, object_type: GraphQLObjectType, selection_sets: list[Any],
             fragments: Mapping[str, FragmentDefinitionNode], variables: VariableValues
             ) -> Shape:
    fields: list[tuple[str, Column]] = []
    for key, nodes in collect(selection_sets, object_type.name, fragments,
                              variables).items():
        name = nodes[0].name.value
        if name == "__typename":
            fields.append((key, lambda values, typename=object_type.name:
                           [typename] * len(values)))
            continue
        if name.startswith("__") or name not in object_type.fields:
            raise Unsupported(f"{object_type.name}.{name}")
        if any(node.arguments for node in nodes):
            raise Unsupported("arguments on a computed object's field")
        field = object_type.fields[name]
        read = attrgetter(_plain_attribute(field))
        complete = _typed(field.type, nodes, schema, fragments, variables)
        fields.append((key, lambda values, read=read, complete=complete:
                       complete(list(map(read, values)))))
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
        items = await check(engine, rule, niks, principal.scope, date.today(),
                            parts=settings.statement_parts)
        partner = principal.role is Role.PARTNER
        results = [EligibilityResult.of(program, item, partner=partner) for item in items]
        guard = CHECKS["EligibilityResult"]
        context = _GuardContext(principal, _Audit(notes))
        visible = [result for result in results if guard(result, context)]
        if not self.batch and not visible:
            raise StepAside  # the resolver's error for a required field out of access
        try:
            answers = self.shape.complete_all(visible)
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
