"""The GraphQL schema: strawberry types over the unified registry."""

from __future__ import annotations

import strawberry
from strawberry.extensions import ParserCache, ValidationCache

from hub.schema.audit import AuditQuery
from hub.schema.executor import HubSchema
from hub.schema.query import RegistryQuery
from hub.schema.reconciliation import Mutation, ReconciliationQuery
from hub.schema.subscriptions import Subscription


@strawberry.type
class Query(RegistryQuery, ReconciliationQuery, AuditQuery):
    """Everything readable: the unified registry, its reconciliation and the audit."""


def build_schema() -> HubSchema:
    """The HTTP endpoint runs documents through hub.schema.executor (cached parse and
    validation, graphql-core execution). The strawberry extensions below serve direct
    `schema.execute` calls, which get the same caching.

    Errors are masked where responses are serialised (hub.schema.errors.format_error),
    not by strawberry's MaskErrors extension, which costs ~20 us on every request.
    """
    return HubSchema(
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
