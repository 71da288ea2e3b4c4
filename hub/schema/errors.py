"""How errors reach a GraphQL client: the hub's own (`hub.errors`) with their message and
code; anything else masked, because a stack trace or SQL text helps only an attacker."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError

from hub.errors import MESSAGE_LIMIT, clip

MASKED_MESSAGE = "Internal server error"


def should_mask(error: GraphQLError) -> bool:
    """Mask what we did not raise on purpose; keep parse, validation and HubErrors."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


def format_error(error: GraphQLError) -> dict[str, Any]:
    """The error as the client sees it: ours in full, a fault reduced to where it
    happened. Done once, where responses are serialised, instead of in a per-request
    schema extension on the hot path."""
    if not should_mask(error):
        formatted = error.formatted
        if len(formatted["message"]) > MESSAGE_LIMIT:  # a message that echoes its input
            formatted["message"] = clip(formatted["message"], MESSAGE_LIMIT)
        return formatted
    masked = GraphQLError(MASKED_MESSAGE, nodes=error.nodes, path=error.path,
                          extensions={"code": "INTERNAL_SERVER_ERROR"})
    return masked.formatted
