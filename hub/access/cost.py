"""Query cost: what a request would make the hub fetch, known before it runs.

Strawberry has no cost analysis, and depth alone does not bound work: a page of 500
households each with members and enrollments is shallow and heavy. Each object field
costs 1, times how many of it a list may return: the `first` argument where the field
has one (a connection, whose `edges` then count once), the size of a list argument
(`niks`, per hundred) where it has one, otherwise a fixed estimate for small lists (members,
enrollments). Variables are known, so the figure is exact for the request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    is_composite_type,
    is_const_value_node,
    value_from_ast_untyped,
)


@dataclass(frozen=True, slots=True)
class CostModel:
    default_page: int  # what `first` means when it is not given
    # A larger `first` is refused by the resolver with its own message; counting it at
    # the largest page keeps that clearer message.
    max_page: int = 500
    small_list: int = 10  # members of a household, enrollments of a person, ...
    list_arguments: tuple[str, ...] = ("niks",)


def _is_list(type_: Any) -> bool:
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return isinstance(type_, GraphQLList)


class _Reads:
    """Whether a walk read any variable (a cost that no variable changes can be kept)."""

    variables = False


def _argument(node: FieldNode, name: str, variables: Mapping[str, Any],
              reads: _Reads) -> Any:
    for argument in node.arguments or ():
        if argument.name.value == name:
            if not is_const_value_node(argument.value):
                reads.variables = True
            return value_from_ast_untyped(argument.value, variables)
    return None


class _Walker:
    def __init__(self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode],
                 variables: Mapping[str, Any], model: CostModel) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.model = model
        self.reads = _Reads()

    def selection_cost(self, parent: Any, selection_set: SelectionSetNode | None,
                       paginated: bool, seen: frozenset[str]) -> int:
        if selection_set is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field_cost(parent, selection, paginated, seen)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                total += self.selection_cost(target, selection.selection_set, paginated, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in seen:
                    continue
                target = self.schema.get_type(fragment.type_condition.name.value)
                total += self.selection_cost(target, fragment.selection_set, paginated,
                                             seen | {name})
        return total

    def field_cost(self, parent: Any, node: FieldNode, paginated: bool,
                   seen: frozenset[str]) -> int:
        name = node.name.value
        if name.startswith("__") or not isinstance(parent, GraphQLObjectType):
            return 0
        definition = parent.fields.get(name)
        if definition is None:
            return 0
        target = get_named_type(definition.type)
        if not is_composite_type(target):
            return 0
        multiplier = 1
        pages = "first" in definition.args
        if pages:
            first = _argument(node, "first", self.variables, self.reads)
            multiplier = (min(first, self.model.max_page)
                          if isinstance(first, int) and first >= 0 else self.model.default_page)
        elif any(arg in definition.args for arg in self.model.list_arguments):
            # A batch is answered in a few statements whatever its size: it costs one
            # unit per hundred items, not one per item.
            for arg in self.model.list_arguments:
                value = _argument(node, arg, self.variables, self.reads)
                if isinstance(value, list):
                    multiplier = max(1, -(-len(value) // 100))
        elif _is_list(definition.type) and not (paginated and name == "edges"):
            multiplier = self.model.small_list
        children = self.selection_cost(target, node.selection_set, pages, seen)
        return multiplier * (1 + children)


def _walk(schema: GraphQLSchema, document: Any, operation: OperationDefinitionNode,
          variables: Mapping[str, Any] | None, model: CostModel) -> tuple[int, bool]:
    """The cost, and whether a variable went into it."""
    fragments = {d.name.value: d for d in document.definitions
                 if isinstance(d, FragmentDefinitionNode)}
    root = schema.get_root_type(operation.operation)
    walker = _Walker(schema, fragments, variables or {}, model)
    cost = walker.selection_cost(root, operation.selection_set, False, frozenset())
    return cost, walker.reads.variables


def operation_cost(schema: GraphQLSchema, document: Any, operation: OperationDefinitionNode,
                   variables: Mapping[str, Any] | None, model: CostModel) -> int:
    return _walk(schema, document, operation, variables, model)[0]


class CostCache:
    """Costs per operation of a cached document. Most requests are look-ups whose cost
    no variable changes (`person(nik: $nik)`): walking the selection again for each was
    a few per cent of a look-up's CPU. A cost that reads a variable (`first: $n`, a
    batch's `niks`) is walked every time."""

    def __init__(self, schema: GraphQLSchema, model: CostModel, maxsize: int = 1024) -> None:
        self.schema = schema
        self.model = model
        self.maxsize = maxsize
        # Keyed by the operation node's id; the node is kept to tell a reused id.
        self._fixed: dict[int, tuple[OperationDefinitionNode, int]] = {}

    def cost(self, document: Any, operation: OperationDefinitionNode,
             variables: Mapping[str, Any] | None) -> int:
        kept = self._fixed.get(id(operation))
        if kept is not None and kept[0] is operation:
            return kept[1]
        cost, read_variables = _walk(self.schema, document, operation, variables,
                                     self.model)
        if not read_variables:
            if len(self._fixed) >= self.maxsize:
                self._fixed.clear()
            self._fixed[id(operation)] = (operation, cost)
        return cost
