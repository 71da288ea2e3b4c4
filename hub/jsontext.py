"""JSON from outside the hub (request bodies, callbacks, agency answers), parsed safely.

The standard library's parser recurses once per nesting level, so a body of a thousand
`[` raises RecursionError wherever it is parsed or walked later (a 500, or a crashed
sync). orjson stops at 1,024 levels; we stop far earlier, because nothing the hub
accepts nests more than a few levels and every later walk of the value (GraphQL
variable coercion, validation, hashing) is recursive too. JSON may also carry the NUL
character (`\u0000`), which PostgreSQL cannot store in text: no name, code or id has
one, so it is refused here rather than failing a write later.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

MAX_DEPTH = 64


class JSONTextError(ValueError):
    """Text that is not JSON the hub accepts; the message says why, in a line."""


def loads(data: bytes | bytearray | memoryview | str, *, max_depth: int = MAX_DEPTH) -> Any:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise JSONTextError(f"not valid JSON: {error}") from None
    if _plainly_acceptable(data, max_depth):
        return value
    problem = refusal(value, max_depth)
    if problem is not None:
        raise JSONTextError(problem)
    return value


def _plainly_acceptable(data: bytes | bytearray | memoryview | str, max_depth: int) -> bool:
    """True when the text itself shows that no refusal applies, so the parsed value
    need not be walked (a look-up's body is a few brackets; walking it was a few per
    cent of the request). JSON can write NUL in a string only as the escape `\\u0000`,
    and no value nests deeper than the number of brackets the text holds."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    return b"\\u0000" not in raw and raw.count(b"[") + raw.count(b"{") <= max_depth


def refusal(value: Any, max_depth: int = MAX_DEPTH) -> str | None:
    """Why a parsed value is refused (nested deeper than `max_depth`, or a string with
    a NUL), or None; iterative, so it cannot itself overflow the stack."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return "JSON strings may not hold the NUL character (\\u0000)"
            continue
        if isinstance(item, dict):
            if any("\x00" in key for key in item):
                return "JSON strings may not hold the NUL character (\\u0000)"
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > max_depth:
            return f"JSON nested more than {max_depth} levels deep"
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, dict | list | str))
    return None


def read_jsonl(path: Path) -> Iterator[Any]:
    """The records of a JSON Lines file (one JSON value per line, blank lines skipped),
    one at a time: a district's files hold millions of records."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    yield loads(line)
                except JSONTextError as error:
                    raise JSONTextError(f"{path}, line {number}: {error}") from None
