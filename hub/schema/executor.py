"""Runs GraphQL documents: strawberry builds the schema, graphql-core executes it.

Strawberry's `Schema.execute` wraps every request in an extension pipeline (execution
context, hook runners, parse and validation caches as extensions). Profiling the hub
under load showed that pipeline as the largest GraphQL-specific cost of a `person(nik)`
look-up, so the HTTP endpoint parses and validates each distinct document once
(`DocumentCache`) and hands the cached document to graphql-core with strawberry's own
execution-context class: the same resolvers, types, permission classes and scalars,
without the per-request machinery. Checks that belong to every request (depth, cost)
are validation rules, which the cache runs once per document.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from inspect import isawaitable
from typing import Any

import strawberry
from graphql import (
    ASTValidationRule,
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    execute,
    get_operation_ast,
    parse,
    specified_rules,
    validate,
    visit,
)
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule
from strawberry.types import ExecutionContext

from hub.access import asked
from hub.access.roles import Role
from hub.schema.errors import should_mask

logger = logging.getLogger("hub.graphql")


class HubSchema(strawberry.Schema):
    """Strawberry's schema, with the hub's error logging. This module is the one place
    the hub reaches into strawberry's internals (the graphql-core schema it keeps
    private, its awaitable check and validation rules): a strawberry upgrade that moves
    them breaks here, and only here."""

    @property
    def graphql(self) -> GraphQLSchema:
        """The graphql-core schema strawberry built."""
        return self._schema

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """A client's bad input is its business, logged at debug; a fault is ours, logged
        with its traceback so an operator can fix it."""
        log_errors(errors)


def log_errors(errors: Iterable[GraphQLError]) -> None:
    for error in errors:
        if should_mask(error):
            logger.error("unexpected error in %s", error.path, exc_info=error.original_error)
        else:
            logger.debug("request error: %s", error.message)


# Types whose fields are personal data (UU PDP): selecting any of them makes a read
# that the audit log records, with the fields named.
PERSONAL_TYPES = frozenset({
    "Person", "Household", "Enrollment", "Finding", "ReviewTask", "SourceRecord",
    "LineageEntry", "AuditAccess", "EligibilityResult", "ServiceCase", "Referral",
})


@dataclass(frozen=True, slots=True)
class PreparedDocument:
    """A parsed document and what validation said of it; cached per query text and
    role. `personal_fields` are the personal-data fields it selects (`Person.nik`)."""

    document: DocumentNode | None
    errors: tuple[GraphQLError, ...]
    personal_fields: tuple[str, ...] = ()
    # NIKs and KKs written into the document itself (audited as asked about).
    identifiers: frozenset[str] = frozenset()

    def operation(self, name: str | None) -> OperationDefinitionNode | None:
        return get_operation_ast(self.document, name) if self.document else None


class _Coordinates(Visitor):
    def __init__(self, type_info: TypeInfo) -> None:
        super().__init__()
        self.type_info = type_info
        self.found: set[str] = set()

    def enter_field(self, node: Any, *_: Any) -> None:
        parent = self.type_info.get_parent_type()
        if parent is not None and parent.name in PERSONAL_TYPES:
            self.found.add(f"{parent.name}.{node.name.value}")


def personal_fields(schema: Any, document: DocumentNode) -> tuple[str, ...]:
    type_info = TypeInfo(schema)
    collector = _Coordinates(type_info)
    visit(document, TypeInfoVisitor(type_info, collector))
    return tuple(sorted(collector.found))


RulesFor = Callable[[Role], Iterable[type[ASTValidationRule]]]


class DocumentCache:
    """Parse and validate each distinct query text once per role (the role decides
    which fields exist for it). Agency apps send the same few documents over and over;
    the bound keeps a flood of distinct texts from growing it."""

    def __init__(
        self,
        schema: HubSchema,
        rules_for: RulesFor = lambda _: (),
        maxsize: int = 1024,
        max_tokens: int | None = None,
    ) -> None:
        self._schema = schema.graphql
        self._rules = (*specified_rules, MaybeNullValidationRule, OneOfInputValidationRule)
        self._rules_for = rules_for
        self._max_tokens = max_tokens
        self.prepare = lru_cache(maxsize=maxsize)(self._prepare)

    def _prepare(self, query: str, role: Role) -> PreparedDocument:
        try:
            document = parse(query, max_lexical_tokens=self._max_tokens,
                             max_comments=self._max_tokens)
        except GraphQLError as error:
            return PreparedDocument(None, (error,))
        errors = validate(self._schema, document, self._rules)
        if not errors:  # the role's rules presume a document valid against the schema
            errors = validate(self._schema, document, tuple(self._rules_for(role)))
        literals = asked.in_document(document)
        if errors:
            return PreparedDocument(document, tuple(errors), identifiers=literals)
        return PreparedDocument(document, (), personal_fields(self._schema, document),
                                literals)


async def execute_prepared(
    schema: HubSchema,
    document: DocumentNode,
    *,
    context: Any,
    variables: dict[str, Any] | None,
    operation_name: str | None,
) -> ExecutionResult:
    """Execute a validated document against the strawberry schema."""
    result = execute(
        schema.graphql,
        document,
        context_value=context,
        variable_values=variables,
        operation_name=operation_name,
        executor_class=schema.execution_context_class,
        is_awaitable=optimized_is_awaitable,
    )
    if isawaitable(result):
        result = await result
    if result.errors:
        log_errors(result.errors)
    return result
