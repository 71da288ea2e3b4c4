"""Which fields a document asks for on an object type: GraphQL's field collection
(fragments, inline fragments, @skip and @include), kept to what the planner needs.

Written here rather than borrowed from graphql-core's executor, whose collection
functions are internal and changed shape in 3.3 (incremental delivery).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLIncludeDirective,
    GraphQLSkipDirective,
    InlineFragmentNode,
    SelectionSetNode,
    VariableNode,
    Visitor,
    visit,
)
from graphql.execution.values import VariableValues, get_directive_values

Fields = dict[str, list[FieldNode]]  # response key -> the nodes merged under it


class Unsupported(Exception):
    """The planner cannot compile this; the resolvers answer instead."""


def _included(node: Any, variables: VariableValues) -> bool:
    directives = node.directives or ()
    for directive in directives:
        if directive.name.value not in ("skip", "include"):
            raise Unsupported(f"directive @{directive.name.value}")
    skip = get_directive_values(GraphQLSkipDirective, node, variables)
    if skip is not None and skip.get("if") is True:
        return False
    include = get_directive_values(GraphQLIncludeDirective, node, variables)
    return not (include is not None and include.get("if") is False)


def collect(
    selection_sets: Iterable[SelectionSetNode | None],
    type_name: str,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: VariableValues,
) -> Fields:
    """Fields by response key, in the order the response lists them."""
    fields: Fields = {}
    for selection_set in selection_sets:
        if selection_set is not None:
            _collect(selection_set, type_name, fragments, variables, fields, set())
    return fields


def _collect(selection_set: SelectionSetNode, type_name: str,
             fragments: Mapping[str, FragmentDefinitionNode], variables: VariableValues,
             fields: Fields, visited: set[str]) -> None:
    for selection in selection_set.selections:
        if not _included(selection, variables):
            continue
        if isinstance(selection, FieldNode):
            key = selection.alias.value if selection.alias else selection.name.value
            fields.setdefault(key, []).append(selection)
        elif isinstance(selection, InlineFragmentNode):
            if _applies(selection.type_condition, type_name):
                _collect(selection.selection_set, type_name, fragments, variables, fields,
                         visited)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if name in visited or fragment is None:
                continue
            visited.add(name)
            if _applies(fragment.type_condition, type_name):
                _collect(fragment.selection_set, type_name, fragments, variables, fields,
                         visited)


def _applies(condition: Any, type_name: str) -> bool:
    # Every type the planner compiles is an object type: a condition names it or no
    # other type validation would let through here.
    return condition is None or condition.name.value == type_name


def subselections(nodes: list[FieldNode]) -> list[SelectionSetNode | None]:
    return [node.selection_set for node in nodes]


def uses_variables_in_directives(document: Any) -> bool:
    """Whether @skip/@include take a variable somewhere: the plan then depends on those
    variables' values, not only on the document."""
    found = False

    class Finder(Visitor):
        def enter_directive(self, node: Any, *_: Any) -> None:
            nonlocal found
            if any(isinstance(argument.value, VariableNode) for argument in node.arguments):
                found = True

    visit(document, Finder())
    return found
