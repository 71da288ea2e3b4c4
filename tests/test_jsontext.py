"""JSON from outside: the refusals hold whether or not the text lets `loads` skip the
walk of the parsed value."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.jsontext import MAX_DEPTH, JSONTextError, loads, refusal

_leaves = st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.text(
    alphabet=st.sampled_from("ab{[\\u0\x00\"")) | st.floats(allow_nan=False, allow_infinity=False)
_values = st.recursive(_leaves, lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.text(alphabet="k{\x00", max_size=2), inner,
                                         max_size=3), max_leaves=40)


@settings(max_examples=400, deadline=None)
@given(_values, st.integers(min_value=1, max_value=8), st.booleans())
def test_loads_refuses_exactly_what_the_walk_refuses(value, max_depth: int, text: bool) -> None:
    data = orjson.dumps(value)
    expected = refusal(value, max_depth)
    body = data.decode() if text else data
    if expected is None:
        assert loads(body, max_depth=max_depth) == value
    else:
        with pytest.raises(JSONTextError, match=r"NUL|nested"):
            loads(body, max_depth=max_depth)


def test_brackets_inside_strings_do_not_refuse_a_shallow_body() -> None:
    query = "{ " * 200 + "x" + " }" * 200
    assert loads(orjson.dumps({"query": query, "variables": {"a": ["[" * 100]}})) == {
        "query": query, "variables": {"a": ["[" * 100]}}


def test_deep_nesting_and_nul_are_refused() -> None:
    with pytest.raises(JSONTextError, match="nested more than"):
        loads("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    assert loads("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    with pytest.raises(JSONTextError, match="NUL"):
        loads(b'{"query": "a\\u0000b"}')
    with pytest.raises(JSONTextError, match="NUL"):
        loads(b'{"a\\u0000": 1}')
    # A backslash followed by the letters u0000 is no NUL.
    assert loads(b'{"q": "\\\\u0000"}') == {"q": "\\u0000"}
