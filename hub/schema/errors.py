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


def should_mask(error: GraphQLError) -> bool:
    """Mask what we did not raise on purpose; keep parse, validation and HubErrors."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)
