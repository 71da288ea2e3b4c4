"""The NIKs and KKs a GraphQL request asks about, read from its document and variables,
so that an attempt the hub refused or answered with nothing still reaches the
citizen's audit trail."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from graphql import DocumentNode, StringValueNode, Visitor, visit

IDENTIFIER = re.compile(r"\d{16}")  # a NIK or a KK number
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
    found: set[str] = set()
    for text in texts:
        candidate = text.strip()
        if IDENTIFIER.fullmatch(candidate):
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
