"""A document's selection, compiled to SQL that returns the response's JSON, and to the
little Python still needed to finish it (`Shape`, `PageShape`).

The SQL carries two kinds of hidden keys, which Python removes: `$g` on every object
the guard checks ([id, NIK or KK, visible]) so the audit log names its subjects and a
row outside the client's regions is withheld exactly as the guard would, and `$k` on a
page's nodes (the cursor's key). Region scope and an agency's own programme are SQL
predicates; their values are bound per request. Scope predicates are left as markers
(`visible`), because the number of regions a client holds changes the SQL text, not
the plan.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import count
from typing import Any

from graphql import FieldNode, FragmentDefinitionNode
from graphql.execution.values import VariableValues

from hub.access.guard import SubjectKinds
from hub.domain.provinces import lookup_range
from hub.schema.planner.selection import Fields, Unsupported, collect, subselections
from hub.schema.planner.sqljson import JsonSql, quote
from hub.schema.planner.tables import HOUSEHOLD, TABLES, Form, Table

GUARD_KEY = "$g"
CURSOR_KEY = "$k"
VISIBLE = "\x00visible:{}\x00"  # replaced by the scope predicate on that column


@dataclass(frozen=True)
class Shape:
    """What Python still does to objects the database built: the guard's decision and
    audit note on guarded ones, and the same for guarded objects nested below."""

    kinds: SubjectKinds | None
    many: bool
    children: tuple[tuple[str, Shape], ...] = ()

    @property
    def needs_walk(self) -> bool:
        return self.kinds is not None or bool(self.children)


@dataclass(frozen=True)
class PageShape:
    """A connection's fields, built in Python from the page's rows: the cursor and
    pageInfo are the resolver's own functions of those rows."""

    fields: tuple[tuple[str, str], ...]  # (response key, field name)
    edge_fields: tuple[tuple[str, str], ...]
    page_info_fields: tuple[tuple[str, str], ...]
    node: Shape
    typenames: Mapping[str, str]


@dataclass(frozen=True)
class Bound:
    """One root's argument values for its statement, the variant of its SQL text they
    need (a page spanning two regions has two range tests), and a page's size."""

    parameters: dict[str, Any]
    variant: tuple[Any, ...] = ()
    limit: int | None = None


Binder = Callable[[dict[str, Any], Any], Bound]


@dataclass(frozen=True)
class RootPlan:
    """One root field: the SQL of its value (a function of the request's argument
    variant, e.g. how many regions a page spans), how to bind its arguments, and how
    to finish what comes back."""

    key: str
    field: FieldNode
    render: Callable[[tuple[Any, ...]], str]
    bind: Binder
    shape: Shape | PageShape


class Compiler:
    """Compiles one operation's root fields for one role's plan."""

    def __init__(self, fragments: Mapping[str, FragmentDefinitionNode],
                 variables: VariableValues, sql: JsonSql, agency_mode: str | None,
                 by_province: bool = False) -> None:
        self.fragments = fragments
        self.variables = variables
        self.sql = sql
        self.agency_mode = agency_mode
        # The registry is partitioned by province (`hub.db.partitions`).
        self.by_province = by_province
        self._aliases = count()

    def alias(self) -> str:
        return f"t{next(self._aliases)}"

    def fields(self, nodes: list[FieldNode], type_name: str) -> Fields:
        return collect(subselections(nodes), type_name, self.fragments, self.variables)

    # -- objects ---------------------------------------------------------------------

    def object(self, type_name: str, alias: str, fields: Fields,
               extra: tuple[tuple[str, str], ...] = ()) -> tuple[str, Shape]:
        """The JSON object of one row of `type_name`'s table, aliased `alias`."""
        table = TABLES.get(type_name)
        if table is None:
            raise Unsupported(f"type {type_name}")
        pairs: list[tuple[str, str]] = []
        children: list[tuple[str, Shape]] = []
        for key, nodes in fields.items():
            name = nodes[0].name.value
            if any(node.arguments for node in nodes):
                raise Unsupported(f"{type_name}.{name} with arguments")
            if name == "__typename":
                pairs.append((key, quote(type_name)))
            elif name in table.scalars:
                pairs.append((key, self.scalar(table, alias, name)))
            elif name in table.relations:
                value, shape = self.relation(table, alias, name, nodes)
                pairs.append((key, value))
                if shape.needs_walk:
                    children.append((key, shape))
            else:
                raise Unsupported(f"{type_name}.{name}")
        guarded = table.guarded
        if guarded is not None:
            visible = VISIBLE.format(f"{alias}.{guarded.region_column}")
            pairs.append((GUARD_KEY, self.sql.array(
                f"{alias}.{table.key}", f"{alias}.{guarded.identifier_column}", visible)))
        pairs.extend(extra)
        if len(pairs) > self.sql.max_pairs:
            raise Unsupported(f"{len(pairs)} fields on one {type_name}")
        kinds = guarded.kinds if guarded is not None else None
        return self.sql.object(pairs), Shape(kinds, False, tuple(children))

    def scalar(self, table: Table, alias: str, name: str) -> str:
        scalar = table.scalars[name]
        column = f"{alias}.{scalar.column}"
        if scalar.form is Form.ID:
            return self.sql.id_text(column)
        if scalar.form is Form.BOOLEAN:
            return self.sql.boolean(column)
        return column

    def relation(self, table: Table, alias: str, name: str, nodes: list[FieldNode]
                 ) -> tuple[str, Shape]:
        relation = table.relations[name]
        target = TABLES[relation.target]
        inner = self.alias()
        element, shape = self.object(relation.target, inner,
                                     self.fields(nodes, relation.target))
        source = f"{target.name} AS {inner}"
        where = f"{inner}.{relation.target_column} = {alias}.{relation.source_column}"
        if relation.agency_source_column is not None:
            where += " AND " + self.agency_predicate(f"{inner}.{relation.agency_source_column}")
        if not relation.many:
            return self.sql.one(element, source, where), shape
        order = [f"{inner}.{column}" for column in relation.order]
        return (self.sql.many(element, source, where, order),
                Shape(shape.kinds, True, shape.children))

    def agency_predicate(self, column: str) -> str:
        """guard._enrollment: an AGENCY client sees its own sources (`bpjs`,
        `dtks_individual` for `dtks`); an agency name with `_` owns none."""
        if self.agency_mode is None:
            return "1 = 1"
        if self.agency_mode == "never":
            return "1 = 0"
        return f"({column} = :agency OR substr({column}, 1, :agency_n) = :agency_prefix)"

    # -- roots -----------------------------------------------------------------------

    def lookup(self, key: str, node: FieldNode, type_name: str, column: str,
               order: tuple[str, ...], value: Callable[[dict[str, Any]], Any]) -> RootPlan:
        """`person(nik)`, `household(kk)`, `region(code)`: the first row by a key."""
        table = TABLES[type_name]
        alias = self.alias()
        element, shape = self.object(type_name, alias, self.fields([node], type_name))
        parameter = f"r_{key}"
        source, where = f"{table.name} AS {alias}", f"{alias}.{column} = :{parameter}"
        ordered = [f"{alias}.{c}" for c in order]
        first = self.sql.one(element, source, where, ordered)
        in_province = self.by_province and type_name in ("Person", "Household")
        if in_province:
            # The number's own partition first, one index probe; every partition only
            # when it is not there (`hub.domain.provinces.lookup_range`).
            key_column = f"{alias}.{table.key}"
            pruned = self.sql.one(element, source, f"{where} AND {key_column} >= "
                                  f":{parameter}_low AND {key_column} < :{parameter}_high",
                                  ordered)
            first = f"coalesce({pruned}, {first})"
        statement = self.sql.result(first)

        def bound(arguments: dict[str, Any], _principal: Any) -> Bound:
            number = value(arguments)
            if not in_province:
                return Bound({parameter: number})
            low, high = lookup_range(number)
            return Bound({parameter: number, f"{parameter}_low": low,
                          f"{parameter}_high": high})

        return RootPlan(key, node, lambda _variant: statement, bound, shape)

    def household_page(self, key: str, node: FieldNode, bind: Binder) -> RootPlan:
        """`households(region, desil, first, after)`: one keyset page and its count."""
        connection = self.fields([node], "HouseholdConnection")
        fields, edge_fields, info_fields = [], [], []
        node_fields: Fields = {}
        edges_keys = 0
        for field_key, nodes in connection.items():
            name = nodes[0].name.value
            fields.append((field_key, name))
            if name == "edges":
                edges_keys += 1
                for edge_key, edge_nodes in self.fields(nodes, "HouseholdEdge").items():
                    edge_name = edge_nodes[0].name.value
                    if edge_name not in ("cursor", "node", "__typename"):
                        raise Unsupported(f"HouseholdEdge.{edge_name}")
                    edge_fields.append((edge_key, edge_name))
                    if edge_name == "node":
                        if node_fields:
                            raise Unsupported("two node selections on one edge")
                        node_fields = self.fields(edge_nodes, "Household")
            elif name == "pageInfo":
                for info_key, info_nodes in self.fields(nodes, "PageInfo").items():
                    info_name = info_nodes[0].name.value
                    if info_name not in ("hasNextPage", "endCursor", "__typename"):
                        raise Unsupported(f"PageInfo.{info_name}")
                    info_fields.append((info_key, info_name))
            elif name not in ("totalCount", "__typename"):
                raise Unsupported(f"HouseholdConnection.{name}")
        if edges_keys > 1:
            raise Unsupported("edges selected twice under different names")
        alias = self.alias()
        element, shape = self.object(
            "Household", alias, node_fields,
            extra=((CURSOR_KEY, f"{alias}.{HOUSEHOLD.scalars['villageCode'].column}"),))
        page_shape = PageShape(
            tuple(fields), tuple(edge_fields), tuple(info_fields), shape,
            {"HouseholdConnection": "HouseholdConnection", "HouseholdEdge": "HouseholdEdge",
             "PageInfo": "PageInfo"})
        counted = any(name == "totalCount" for _, name in fields)
        village = HOUSEHOLD.scalars["villageCode"].column
        desil = HOUSEHOLD.scalars["desil"].column
        sql = self.sql

        def render(variant: tuple[Any, ...]) -> str:
            regions, has_desil, has_after = variant

            def where(table_alias: str) -> str:
                column = f"{table_alias}.{village}"
                ranges = [f"({column} >= :{key}_lo{i} AND {column} < :{key}_hi{i})"
                          for i in range(regions)]
                condition = "(" + " OR ".join(ranges) + ")" if ranges else "1 = 0"
                if has_desil:
                    condition += f" AND {table_alias}.{desil} = :{key}_desil"
                return condition

            page_where = where(alias)
            if has_after:
                page_where += (f" AND ({alias}.{village}, {alias}.{HOUSEHOLD.key}) > "
                               f"(:{key}_after_village, :{key}_after_id)")
            total = (f"(SELECT count(*) FROM {HOUSEHOLD.name} AS c WHERE {where('c')})"
                     if counted else "NULL")
            nodes = sql.page(element, f"{HOUSEHOLD.name} AS {alias}", page_where,
                             [f"{alias}.{village}", f"{alias}.{HOUSEHOLD.key}"],
                             f":{key}_limit")
            return sql.result(sql.object([("t", total), ("n", nodes)]))

        return RootPlan(key, node, render, bind, page_shape)
