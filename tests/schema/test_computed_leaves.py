"""The computed answers' leaf serializers take a short cut for the commonest values;
for every value they must give what the type's own `serialize` gives, or the same
error."""

from __future__ import annotations

from enum import Enum
from typing import Any

import pytest
from graphql import GraphQLBoolean, GraphQLError, GraphQLFloat, GraphQLID, GraphQLInt, GraphQLString

from hub.schema import build_schema
from hub.schema.planner.computed import _leaf


class _Colour(Enum):
    RED = "RED"


VALUES: list[Any] = ["", "teks", "3314015208850001", 0, 1, -1, 2**31 - 1, 2**31, -(2**31),
                     -(2**31) - 1, 10**20, True, False, 1.0, 1.5, float("nan"), b"x",
                     [1], {"a": 1}, _Colour.RED, "ELIGIBLE", "FOUND", object()]


def _outcome(serialize: Any, value: Any) -> tuple[str, Any]:
    try:
        return "value", serialize(value)
    except (GraphQLError, TypeError, ValueError) as error:
        return "error", type(error).__name__


@pytest.mark.parametrize("leaf", [GraphQLString, GraphQLID, GraphQLInt, GraphQLBoolean,
                                  GraphQLFloat], ids=lambda t: t.name)
def test_a_scalar_short_cut_serializes_as_the_scalar(leaf: Any) -> None:
    fast = _leaf(leaf)
    for value in VALUES:
        expected = _outcome(leaf.serialize, value)
        got = _outcome(fast, value)
        assert got == expected, value
        if expected[0] == "value":
            assert type(got[1]) is type(expected[1]), value


def test_an_enum_short_cut_serializes_as_the_enum() -> None:
    from hub.domain.eligibility import Decision

    schema = build_schema()._schema
    for name in ("EligibilityDecision", "LookupStatus"):
        enum = schema.type_map[name]
        fast = _leaf(enum)
        members = list(Decision) if name == "EligibilityDecision" else []
        for value in [*members, *members, *VALUES]:  # twice: the second from the table
            assert _outcome(fast, value) == _outcome(enum.serialize, value), (name, value)
