"""The read planner's cache and run: a query operation whose every root field it can
compile is answered by one SQL statement; anything else returns None, and the
resolvers answer.

Plans are cached per document, operation, role and the agency rule; the SQL text per
plan and scope shape (how many regions the client holds, how many a page spans). An
argument the resolver would refuse (a bad NIK, a foreign cursor) makes the planner
step aside, so the error a client sees is the resolvers' own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import orjson
from graphql import GraphQLSchema, OperationDefinitionNode, OperationType
from graphql.execution.values import (
    VariableValues,
    get_argument_values,
    get_variable_values,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.access.audit import Subject
from hub.access.roles import Principal
from hub.config import EligibilitySettings
from hub.db.onerow import OneRowStatement, fetch_one_row
from hub.domain.regions import code_range
from hub.errors import BadUserInput
from hub.schema.arguments import household_page_args, valid_kk, valid_nik, valid_region
from hub.schema.executor import PreparedDocument
from hub.schema.planner.compiler import VISIBLE, Binder, Bound, Compiler, RootPlan
from hub.schema.planner.computed import (
    COMPUTED_ROOTS,
    ComputedRoot,
    StepAside,
    computed_root,
)
from hub.schema.planner.finish import finish
from hub.schema.planner.selection import Unsupported, collect, uses_variables_in_directives
from hub.schema.planner.sqljson import for_dialect
from hub.schema.planner.tables import HOUSEHOLD, PERSON, REGION

MAX_PLANS = 1024


@dataclass(frozen=True)
class ComputedPlan:
    """Root fields the service computes in Python (hub.schema.planner.computed)."""

    roots: tuple[ComputedRoot, ...]


@dataclass
class Plan:
    roots: tuple[RootPlan, ...]
    statements: dict[tuple[Any, ...], OneRowStatement] = field(default_factory=dict)

    def statement(self, variants: tuple[tuple[Any, ...], ...], scope_regions: int | None
                  ) -> OneRowStatement:
        key = (variants, scope_regions)
        statement = self.statements.get(key)
        if statement is None:
            columns = ", ".join(f"{root.render(variant)} AS c{i}"
                                for i, (root, variant) in enumerate(zip(self.roots, variants,
                                                                        strict=True)))
            statement = OneRowStatement(_with_scope("SELECT " + columns, scope_regions))
            if len(self.statements) < 64:
                self.statements[key] = statement
        return statement


def _with_scope(sql: str, regions: int | None) -> str:
    """Each VISIBLE marker as the guard's rule (RegionScope.allows) on its column:
    the region itself or a code under it."""
    head, *parts = sql.split("\x00")
    out = [head]
    for marker, rest in zip(parts[::2], parts[1::2], strict=True):
        column = marker.removeprefix("visible:")
        if regions is None:
            out.append("1")
        elif regions == 0:
            out.append("0")
        else:
            tests = " OR ".join(f"{column} = :scope{i} OR ({column} >= :scope{i}_dot AND "
                                f"{column} < :scope{i}_end)" for i in range(regions))
            out.append(f"CASE WHEN {tests} THEN 1 ELSE 0 END")
        out.append(rest)
    return "".join(out)


assert VISIBLE.startswith("\x00visible:")


def _scope_parameters(principal: Principal) -> tuple[int | None, dict[str, Any]]:
    scope = principal.scope
    if scope.everywhere:
        return None, {}
    parameters: dict[str, Any] = {}
    for i, region in enumerate(scope.regions):
        parameters[f"scope{i}"] = region
        parameters[f"scope{i}_dot"] = region + "."
        parameters[f"scope{i}_end"] = region + "/"
    return len(scope.regions), parameters


def _agency(principal: Principal) -> tuple[str | None, dict[str, Any]]:
    agency = principal.agency
    if agency is None:
        return None, {}
    if "_" in agency:
        return "never", {}
    return "prefix", {"agency": agency, "agency_n": len(agency) + 1,
                      "agency_prefix": agency + "_"}


class ReadPlanner:
    def __init__(self, schema: GraphQLSchema, dialect: str, max_page_size: int,
                 eligibility: EligibilitySettings | None = None, *,
                 by_province: bool = False) -> None:
        self.schema = schema
        self.by_province = by_province
        self.eligibility = eligibility or EligibilitySettings()
        self.sql = for_dialect(dialect)
        self.max_page_size = max_page_size
        self._plans: dict[tuple[Any, ...],
                          tuple[PreparedDocument, Plan | ComputedPlan | None]] = {}
        self._directive_variables: dict[int, tuple[PreparedDocument, bool]] = {}
        self.answered = 0  # query operations the planner answered (for /metrics)
        self.stepped_aside = 0  # and those it left to the resolvers

    async def run(self, engine: AsyncEngine, query: str, prepared: PreparedDocument,
                  operation: OperationDefinitionNode, principal: Principal,
                  variables: dict[str, Any] | None
                  ) -> tuple[dict[str, Any], list[Subject]] | None:
        """The operation's data and the audit subjects it read, or None when the
        resolvers must answer."""
        if operation.operation is not OperationType.QUERY:
            return None
        answer = await self._answer(engine, query, prepared, operation, principal,
                                    variables)
        if answer is None:
            self.stepped_aside += 1
        else:
            self.answered += 1
        return answer

    async def _answer(self, engine: AsyncEngine, query: str, prepared: PreparedDocument,
                      operation: OperationDefinitionNode, principal: Principal,
                      variables: dict[str, Any] | None
                      ) -> tuple[dict[str, Any], list[Subject]] | None:
        coerced = get_variable_values(self.schema, operation.variable_definitions or (),
                                      variables or {})
        if isinstance(coerced, list):
            return None  # errors: the executor reports variables that do not coerce
        agency_mode, agency_parameters = _agency(principal)
        plan = self.plan(query, prepared, operation, principal, agency_mode, coerced)
        if plan is None:
            return None
        if isinstance(plan, ComputedPlan):
            return await self._computed(engine, plan, principal, coerced)
        parameters = dict(agency_parameters)
        scope_regions, scope_parameters = _scope_parameters(principal)
        parameters.update(scope_parameters)
        bound = []
        query_type = self.schema.query_type
        assert query_type is not None
        for root in plan.roots:
            definition = query_type.fields[root.field.name.value]
            try:
                one = root.bind(get_argument_values(definition, root.field, coerced),
                                principal)
            except (BadUserInput, ValueError, TypeError, KeyError):
                return None
            parameters.update(one.parameters)
            bound.append(one)
        statement = plan.statement(tuple(b.variant for b in bound), scope_regions)
        row = await fetch_one_row(engine, statement, parameters)
        data: dict[str, Any] = {}
        notes: list[Subject] = []
        for i, (root, one) in enumerate(zip(plan.roots, bound, strict=True)):
            raw = row[i]
            value = orjson.loads(raw) if raw is not None else None
            data[root.key] = finish(value, root.shape, notes, one.limit)
        return data, notes

    async def _computed(self, engine: AsyncEngine, plan: ComputedPlan, principal: Principal,
                        variables: VariableValues
                        ) -> tuple[dict[str, Any], list[Subject]] | None:
        query_type = self.schema.query_type
        assert query_type is not None
        data: dict[str, Any] = {}
        notes: list[Subject] = []
        for root in plan.roots:
            definition = query_type.fields[root.field.name.value]
            try:
                data[root.key] = await root.answer(
                    engine, self.eligibility, get_argument_values(definition, root.field,
                                                                  variables),
                    principal, notes)
            except StepAside:
                return None
        return data, notes

    def plan(self, query: str, prepared: PreparedDocument, operation: OperationDefinitionNode,
             principal: Principal, agency_mode: str | None, variables: VariableValues
             ) -> Plan | ComputedPlan | None:
        directive_key = (json.dumps(variables.coerced, sort_keys=True, default=str)
                         if self._depends_on_variables(prepared) else None)
        key = (query, operation.name.value if operation.name else None, principal.role,
               agency_mode, directive_key)
        cached = self._plans.get(key)
        if cached is not None and cached[0] is prepared:
            return cached[1]
        try:
            plan: Plan | ComputedPlan | None = self._compile(prepared, operation, agency_mode,
                                                             variables)
        except Unsupported:
            plan = None
        if len(self._plans) >= MAX_PLANS:
            self._plans.clear()
        self._plans[key] = (prepared, plan)
        return plan

    def _depends_on_variables(self, prepared: PreparedDocument) -> bool:
        cached = self._directive_variables.get(id(prepared))
        if cached is not None and cached[0] is prepared:
            return cached[1]
        depends = uses_variables_in_directives(prepared.document)
        if len(self._directive_variables) >= MAX_PLANS:
            self._directive_variables.clear()
        self._directive_variables[id(prepared)] = (prepared, depends)
        return depends

    def _compile(self, prepared: PreparedDocument, operation: OperationDefinitionNode,
                 agency_mode: str | None, variables: VariableValues) -> Plan | ComputedPlan:
        document = prepared.document
        assert document is not None
        fragments = {d.name.value: d for d in document.definitions
                     if d.kind == "fragment_definition"}
        fields = collect([operation.selection_set], "Query", fragments, variables)
        if not fields:
            raise Unsupported("nothing selected")
        if any(len(nodes) != 1 for nodes in fields.values()):
            raise Unsupported("a root field selected twice under one name")
        names = {nodes[0].name.value for nodes in fields.values()}
        if names & COMPUTED_ROOTS:
            if not names <= COMPUTED_ROOTS:
                raise Unsupported("computed and compiled root fields together")
            return ComputedPlan(tuple(computed_root(self.schema, key, nodes[0], fragments,
                                                    variables)
                                      for key, nodes in fields.items()))
        compiler = Compiler(fragments, variables, self.sql, agency_mode, self.by_province)
        return Plan(tuple(self._root(compiler, key, nodes[0])
                          for key, nodes in fields.items()))

    def _root(self, compiler: Compiler, key: str, node: Any) -> RootPlan:
        name = node.name.value
        if name == "person":
            return compiler.lookup(key, node, "Person", PERSON.scalars["nik"].column,
                                   (PERSON.key,), lambda a: valid_nik(a["nik"]))
        if name == "household":
            return compiler.lookup(key, node, "Household", HOUSEHOLD.scalars["kk"].column,
                                   (HOUSEHOLD.key,), lambda a: valid_kk(a["kk"]))
        if name == "region":
            return compiler.lookup(key, node, "Region", REGION.key, (),
                                   lambda a: valid_region(a["code"], "code"))
        if name == "households":
            return compiler.household_page(key, node, self._page_binder(key))
        raise Unsupported(f"Query.{name}")

    def _page_binder(self, key: str) -> Binder:
        max_page = self.max_page_size

        def bind(arguments: dict[str, Any], principal: Principal) -> Bound:
            region = valid_region(arguments["region"], "region")
            desil = arguments.get("desil")
            limit, start = household_page_args(desil, arguments.get("first"),
                                               arguments.get("after"), max_page)
            codes = principal.scope.within(region)
            parameters: dict[str, Any] = {f"{key}_limit": limit + 1}
            for i, code in enumerate(codes):  # statistics.in_regions' ranges
                parameters[f"{key}_lo{i}"], parameters[f"{key}_hi{i}"] = code_range(code)
            if desil is not None:
                parameters[f"{key}_desil"] = desil
            if start is not None:
                parameters[f"{key}_after_village"], parameters[f"{key}_after_id"] = start
            return Bound(parameters, (len(codes), desil is not None, start is not None),
                         limit)

        return bind
