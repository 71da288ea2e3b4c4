"""Validation rules that refuse a document before it runs: fields the role may not use,
introspection where it is off, too deep a nesting, too many aliases. They run once per
distinct (document, role) thanks to the document cache, so they cost nothing on the
hot path."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)

from hub.access import policy
from hub.access.roles import Role


def limit_error(message: str, node: Any, code: str, **extensions: Any) -> GraphQLError:
    return GraphQLError(message, node, extensions={"code": code, **extensions})


def field_access_rule(role: Role, introspection: bool) -> type[ValidationRule]:
    """Refuse any field the role's policy does not list, naming it."""
    may_introspect = introspection and role in policy.INTROSPECTING

    class FieldAccess(ValidationRule):
        def enter_field(self, node: FieldNode, *_: Any) -> None:
            name = node.name.value
            if name == "__typename":
                return
            if name.startswith("__"):
                if not may_introspect:
                    self.report_error(limit_error(
                        f"introspection ({name}) is not allowed"
                        + ("" if introspection else " on this server")
                        + ("" if role in policy.INTROSPECTING else f" for {role.value} clients"),
                        node, "FORBIDDEN"))
                return
            parent = self.context.get_parent_type()
            if parent is None or parent.name.startswith("__"):
                return
            if not policy.allows(role, parent.name, name):
                self.report_error(limit_error(
                    f"a {role.value} client may not use {parent.name}.{name}", node,
                    "FORBIDDEN", field=f"{parent.name}.{name}"))

    return FieldAccess


def _depth(selection_set: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode],
           seen: frozenset[str] = frozenset()) -> int:
    if selection_set is None:
        return 0
    deepest = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            if selection.name.value.startswith("__"):
                continue  # introspection is governed by its own switch
            depth = 1 + _depth(selection.selection_set, fragments, seen)
        elif isinstance(selection, InlineFragmentNode):
            depth = _depth(selection.selection_set, fragments, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is None or name in seen:  # other rules report these
                continue
            depth = _depth(fragment.selection_set, fragments, seen | {name})
        else:  # pragma: no cover - the grammar has no other selections
            continue
        deepest = max(deepest, depth)
    return deepest


def _fragments(context: ValidationContext) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in context.document.definitions
            if isinstance(d, FragmentDefinitionNode)}


def max_depth_rule(limit: int) -> type[ValidationRule]:
    class MaxDepth(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            depth = _depth(node.selection_set, _fragments(self.context))
            if depth > limit:
                self.report_error(limit_error(
                    f"the query is nested {depth} levels deep; the limit is {limit}",
                    node, "DEPTH_LIMIT", depth=depth, limit=limit))

    return MaxDepth


def max_aliases_rule(limit: int) -> type[ValidationRule]:
    class MaxAliases(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.count = 0

        def enter_field(self, node: FieldNode, *_: Any) -> None:
            if node.alias is not None:
                self.count += 1

        def leave_document(self, node: Any, *_: Any) -> None:
            if self.count > limit:
                self.report_error(limit_error(
                    f"the document uses {self.count} aliases; the limit is {limit}",
                    node, "ALIAS_LIMIT", aliases=self.count, limit=limit))

    return MaxAliases


def rules_for(role: Role, *, introspection: bool, max_depth: int,
              max_aliases: int) -> Iterable[type[ValidationRule]]:
    return (field_access_rule(role, introspection), max_depth_rule(max_depth),
            max_aliases_rule(max_aliases))
