"""Keyset pagination with opaque cursors.

A cursor encodes the sort key of the last row seen, so page 1,000 is one index seek
like page 1, and rows inserted meanwhile neither repeat nor vanish from later pages.
Clients must treat cursors as opaque; the prefix versions the format.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import orjson

from hub import jsontext
from hub.errors import BadUserInput, clip

_VERSION = "v1"
DEFAULT_PAGE = 50  # a list's page when the client names no `first`


def encode_cursor(kind: str, key: list[Any]) -> str:
    # orjson writes what json.dumps with these separators writes, for ASCII; a page
    # encodes one cursor per row, where json.dumps was a tenth of the request.
    raw = orjson.dumps([_VERSION, kind, key])
    if not raw.isascii():  # json.dumps escapes non-ASCII: keep old cursors' bytes
        raw = json.dumps([_VERSION, kind, key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        version, found_kind, key = jsontext.loads(base64.urlsafe_b64decode(padded))
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise BadUserInput(
            f"cursor {clip(cursor)!r} is not a cursor this API issued", argument="after"
        ) from None
    if version != _VERSION or found_kind != kind or not isinstance(key, list):
        raise BadUserInput(f"cursor {clip(cursor)!r} does not belong to this list",
                           argument="after")
    return key


def decode_id_cursor(kind: str, cursor: str) -> int:
    """The row id a one-key cursor holds; a cursor altered to hold anything else (text,
    a float, a number no id column holds) is refused like a foreign one."""
    key = decode_cursor(kind, cursor)
    if len(key) != 1 or type(key[0]) is not int or not 0 <= key[0] < 2**63:
        raise BadUserInput(f"cursor {clip(cursor)!r} is not a cursor this API issued",
                           argument="after")
    return key[0]


def page_size(first: int | None, default: int, maximum: int) -> int:
    if first is None:
        return min(default, maximum)
    if first < 0:
        raise BadUserInput(f"first must be 0 or more, got {first}", argument="first")
    if first > maximum:
        raise BadUserInput(
            f"first is at most {maximum} (the server's max_page_size), got {first}",
            argument="first",
        )
    return first
