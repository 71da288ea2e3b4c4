"""Cursors are opaque to clients but must stay stable: a cursor a client saved before
an upgrade still pages from where it was."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from hub.errors import BadUserInput
from hub.schema.pagination import decode_cursor, encode_cursor

keys = st.lists(st.one_of(st.text(), st.integers(-(2**63), 2**63 - 1), st.none(),
                          st.booleans()), max_size=3)


@given(kind=st.sampled_from(["household", "finding", "case"]), key=keys)
@example(kind="household", key=["\x00"])
@example(kind="household", key=["33.14.01.2001", 146])
def test_a_cursor_is_the_same_bytes_as_the_first_format_and_reads_back(kind, key):
    first_format = base64.urlsafe_b64encode(
        json.dumps(["v1", kind, key], separators=(",", ":")).encode()).decode().rstrip("=")
    cursor = encode_cursor(kind, key)
    assert cursor == first_format
    if any(isinstance(part, str) and "\x00" in part for part in key):
        # JSON from outside may not hold NUL (hub.jsontext): such a cursor is refused.
        with pytest.raises(BadUserInput):
            decode_cursor(kind, cursor)
    else:
        assert decode_cursor(kind, cursor) == key
