"""Errors a client can act on. They reach the client with their message and a code;
anything else is masked, because a stack trace or SQL text helps only an attacker."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError


class HubError(GraphQLError):
    """A request the hub understood and refuses, with a stable `extensions.code`."""

    code = "BAD_REQUEST"

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message, extensions={"code": self.code, **extensions})


class BadUserInput(HubError):
    code = "BAD_USER_INPUT"


MASKED_MESSAGE = "Internal server error"
ECHO_LIMIT = 200
MESSAGE_LIMIT = 400


def clip(text: str, limit: int = ECHO_LIMIT) -> str:
    """At most `limit` characters of something a client sent, for an error message: an
    error that echoes a megabyte of input is a megabyte the hub sends back (and logs)."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


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
