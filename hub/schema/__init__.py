"""The GraphQL schema: strawberry types over the unified registry."""

from __future__ import annotations

from operator import attrgetter

import strawberry
from graphql import GraphQLObjectType, GraphQLSchema
from strawberry.extensions import ParserCache, ValidationCache

from hub.access import guard
from hub.schema.audit import AuditQuery
from hub.schema.desk import DeskMutation, DeskQuery
from hub.schema.eligibility import EligibilityQuery
from hub.schema.executor import HubSchema
from hub.schema.query import RegistryQuery
from hub.schema.reconciliation import ReconciliationMutation, ReconciliationQuery
from hub.schema.subscriptions import Subscription


@strawberry.type
class Query(RegistryQuery, ReconciliationQuery, AuditQuery, EligibilityQuery, DeskQuery):
    """Everything readable: the unified registry, its reconciliation, eligibility, the
    SLRT desk and the audit."""


@strawberry.type
class Mutation(ReconciliationMutation, DeskMutation):
    """Data stewards' decisions and the SLRT desk's steps."""


def build_schema() -> HubSchema:
    """The HTTP endpoint runs documents through hub.schema.executor (cached parse and
    validation, graphql-core execution). The strawberry extensions below serve direct
    `schema.execute` calls, which get the same caching.

    Errors are masked where responses are serialised (hub.schema.errors.format_error),
    not by strawberry's MaskErrors extension, which costs ~20 us on every request.
    """
    schema = HubSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[
            # Factories: a fresh extension per request. The two caches live at module
            # level inside strawberry, so they are still shared across requests.
            lambda: ParserCache(maxsize=1024),
            lambda: ValidationCache(maxsize=1024),
        ],
    )
    plain_attribute_resolvers(schema.graphql)
    # Row-level access on every field that returns a person, household, finding...
    guard.install(schema.graphql)
    return schema


def plain_attribute_resolvers(schema: GraphQLSchema) -> None:
    """A field that only reads an attribute gets `operator.attrgetter` as its resolver.

    Strawberry routes such a field through three calls (its basic-field wrapper, the
    field's get_result, the configured default resolver); a batch of 10,000 eligibility
    answers resolves a hundred thousand of them, where those calls were a fifth of the
    time. Same result: the attribute's value.
    """
    for graphql_type in schema.type_map.values():
        if not isinstance(graphql_type, GraphQLObjectType):
            continue
        for field in graphql_type.fields.values():
            definition = (field.extensions or {}).get("strawberry-definition")
            if (definition is not None and getattr(field.resolve, "_is_default", False)
                    and definition.is_basic_field
                    and definition.default_resolver is getattr):
                field.resolve = _attribute(definition.python_name)


def _attribute(name: str):
    read = attrgetter(name)
    return lambda source, _info: read(source)
