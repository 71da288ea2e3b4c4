"""How PostgreSQL and SQLite spell the JSON the planner asks them for.

Both build objects in the key order given, which is the order the GraphQL response
lists its fields. Two differences matter: SQLite forgets that a subquery's value is
JSON (so it is re-read with `json()`), and SQLite has no boolean (0/1 becomes
true/false here). SQLite before 3.44 has no ORDER BY inside an aggregate, so its lists
aggregate an ordered subquery, which SQLite reads in order.
"""

from __future__ import annotations

from collections.abc import Sequence


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _order(columns: Sequence[str]) -> str:
    return f" ORDER BY {', '.join(columns)}" if columns else ""


class JsonSql:
    """PostgreSQL's spelling."""

    name = "postgresql"

    # json_build_object takes at most 100 arguments (PostgreSQL's FUNC_MAX_ARGS).
    max_pairs = 50

    def object(self, pairs: Sequence[tuple[str, str]]) -> str:
        return f"json_build_object({self._args(pairs)})"

    @staticmethod
    def _args(pairs: Sequence[tuple[str, str]]) -> str:
        return ", ".join(f"{quote(key)}, {value}" for key, value in pairs)

    def array(self, *values: str) -> str:
        return f"json_build_array({', '.join(values)})"

    def one(self, element: str, source: str, where: str, order: Sequence[str] = ()) -> str:
        """The object of the (first) row matching, or null."""
        return f"(SELECT {element} FROM {source} WHERE {where}{_order(order)} LIMIT 1)"

    def many(self, element: str, source: str, where: str, order: Sequence[str]) -> str:
        """The objects of the rows matching, in order; [] when none."""
        return (f"(SELECT coalesce(json_agg({element} ORDER BY {', '.join(order)}), "
                f"'[]'::json) FROM {source} WHERE {where})")

    def page(self, element: str, source: str, where: str, order: Sequence[str],
             limit: str) -> str:
        """The first `limit` rows matching, in order: a keyset page."""
        keys = ", ".join(f"{column} AS k{i}" for i, column in enumerate(order))
        by = ", ".join(f"k{i}" for i in range(len(order)))
        return (f"(SELECT coalesce(json_agg(e ORDER BY {by}), '[]'::json) FROM "
                f"(SELECT {element} AS e, {keys} FROM {source} WHERE {where} "
                f"ORDER BY {', '.join(order)} LIMIT {limit}) AS page)")

    def boolean(self, column: str) -> str:
        return column

    def id_text(self, column: str) -> str:
        return f"{column}::text"

    def result(self, expression: str) -> str:
        """A root's value as text, for orjson to read (not the driver's JSON codec)."""
        return f"({expression})::text"


class SqliteJsonSql(JsonSql):
    name = "sqlite"

    def object(self, pairs: Sequence[tuple[str, str]]) -> str:
        return f"json_object({self._args(pairs)})"

    def array(self, *values: str) -> str:
        return f"json_array({', '.join(values)})"

    def one(self, element: str, source: str, where: str, order: Sequence[str] = ()) -> str:
        return f"json({super().one(element, source, where, order)})"

    max_pairs = 1000

    def many(self, element: str, source: str, where: str, order: Sequence[str]) -> str:
        return self.page(element, source, where, order, None)

    def page(self, element: str, source: str, where: str, order: Sequence[str],
             limit: str | None) -> str:
        tail = f" LIMIT {limit}" if limit is not None else ""
        return (f"(SELECT json_group_array(json(e)) FROM (SELECT {element} AS e FROM "
                f"{source} WHERE {where} ORDER BY {', '.join(order)}{tail}))")

    def boolean(self, column: str) -> str:
        return f"json(CASE WHEN {column} THEN 'true' WHEN NOT {column} THEN 'false' END)"

    def id_text(self, column: str) -> str:
        return f"CAST({column} AS TEXT)"

    def result(self, expression: str) -> str:
        return expression


def for_dialect(name: str) -> JsonSql:
    if name == "postgresql":
        return JsonSql()
    if name == "sqlite":
        return SqliteJsonSql()
    raise ValueError(f"no JSON spelling for {name}")
