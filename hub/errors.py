"""The errors a client can act on, at the bottom of the package so that every layer
(the access guard, the GraphQL schema, DCI's expression search) raises the same ones.

They are GraphQL errors with a stable `extensions.code`: they reach the client with
their message, where anything else is masked (`hub.schema.errors.format_error`).
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError

ECHO_LIMIT = 200
MESSAGE_LIMIT = 400


class Refusal(Exception):
    """A protocol's refusal with its code (a DCI `rjct.*` reason, an `err.signature.*`
    error): the code for systems, the message, bounded, for people."""

    def __init__(self, code: str, message: str) -> None:
        if len(message) > MESSAGE_LIMIT:  # a message that quotes what the sender sent
            message = f"{message[:MESSAGE_LIMIT]}…"
        super().__init__(message)
        self.code = code
        self.message = message


class NotFound(LookupError):
    """What a use case (the desk, a steward) was asked to act on does not exist, or lies
    outside the caller's regions: the same words for both, so an answer tells nothing of
    persons elsewhere. The GraphQL layer answers it as `NotFoundError`."""


class HubError(GraphQLError):
    """A request the hub understood and refuses, with a stable `extensions.code`."""

    code = "BAD_REQUEST"

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message, extensions={"code": self.code, **extensions})


class BadUserInput(HubError):
    code = "BAD_USER_INPUT"


class NotFoundError(HubError):
    """Absent, or outside the client's regions: the same words for both."""

    code = "NOT_FOUND"


class ForbiddenError(HubError):
    code = "FORBIDDEN"


def clip(text: str, limit: int = ECHO_LIMIT) -> str:
    """At most `limit` characters of something a client sent, for an error message: an
    error that echoes a megabyte of input is a megabyte the hub sends back (and logs)."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"
