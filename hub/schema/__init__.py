"""The GraphQL schema: strawberry types over the unified registry."""

from __future__ import annotations

from strawberry.extensions import MaskErrors, ParserCache, ValidationCache

from hub.schema.errors import should_mask
from hub.schema.executor import HubSchema
from hub.schema.query import Query

MASKED_MESSAGE = "Internal server error"


def build_schema() -> HubSchema:
    """Parsing and validating a query costs more than running a keyed look-up; agency
    apps send the same few documents over and over, so both are cached."""
    return HubSchema(
        query=Query,
        extensions=[
            # Factories: a fresh extension per request. The two caches live at module
            # level inside strawberry, so they are still shared across requests.
            lambda: ParserCache(maxsize=1024),
            lambda: ValidationCache(maxsize=1024),
            lambda: MaskErrors(should_mask_error=should_mask, error_message=MASKED_MESSAGE),
        ],
    )
