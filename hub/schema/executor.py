"""The strawberry Schema the hub runs, with logging that tells mistakes from faults."""

from __future__ import annotations

import logging

import strawberry
from graphql import GraphQLError
from strawberry.types import ExecutionContext

from hub.schema.errors import should_mask

logger = logging.getLogger("hub.graphql")


class HubSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """A client's bad input is its business, logged at debug; a fault is ours, logged
        with its traceback so an operator can fix it."""
        for error in errors:
            if should_mask(error):
                logger.error("unexpected error in %s", error.path, exc_info=error.original_error)
            else:
                logger.debug("request error: %s", error.message)
