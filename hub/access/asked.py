"""The NIKs and KKs a GraphQL request asks about, read from its document and variables,
so that an attempt the hub refused or answered with nothing still reaches the
citizen's audit trail."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import DocumentNode, StringValueNode, Visitor, visit

MOST = 20_000  # a batch of 10,000 NIKs fits; a flood of made-up numbers stops here


class _Strings(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
        self.found.append(node.value)


def _values(value: Any) -> Iterator[str]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _matching(texts: Any) -> set[str]:
    """The texts that are 16 digits once stripped. `isdecimal` is the regex's `\\d`
    without its call: a batch's 10,000 NIKs went through it on every request."""
    found: set[str] = set()
    for text in texts:
        if len(text) < 16:
            continue
        candidate = text.strip()
        if len(candidate) == 16 and candidate.isdecimal():
            found.add(candidate)
            if len(found) >= MOST:
                break
    return found


def in_document(document: DocumentNode | None) -> frozenset[str]:
    """The 16-digit strings among a document's literals: computed once per document
    (the document cache keeps it), not per request."""
    if document is None:
        return frozenset()
    strings = _Strings()
    visit(document, strings)
    return frozenset(_matching(strings.found))


def identifiers(literals: frozenset[str], variables: dict[str, Any] | None) -> set[str]:
    """A request's NIKs and KKs: its document's `literals` and those in its variables."""
    return set(literals) | (_matching(_values(variables)) if variables else set())
