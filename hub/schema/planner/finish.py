"""The Python half of a planned read: the guard's decision on each guarded object
(withheld objects read as absent, every subject noted for the audit), and connections
built from their page's rows the way hub.schema.types builds them.
"""

from __future__ import annotations

from typing import Any

from hub.access.audit import Subject
from hub.schema.pagination import encode_cursor
from hub.schema.planner.compiler import CURSOR_KEY, GUARD_KEY, PageShape, Shape


def finish(value: Any, shape: Shape | PageShape, notes: list[Subject],
           limit: int | None = None) -> Any:
    if isinstance(shape, PageShape):
        assert limit is not None
        return page(value, shape, notes, limit)
    return walk(value, shape, notes)


def walk(value: Any, shape: Shape, notes: list[Subject]) -> Any:
    if value is None or not shape.needs_walk:
        return value
    if shape.many:
        kept = (_object(item, shape, notes) for item in value)
        return [item for item in kept if item is not None]
    return _object(value, shape, notes)


def _object(item: dict[str, Any], shape: Shape, notes: list[Subject]
            ) -> dict[str, Any] | None:
    kinds = shape.kinds
    if kinds is not None:
        subject_id, identifier, visible = item.pop(GUARD_KEY)
        if not visible:
            notes.append((kinds.withheld, subject_id, identifier))
            return None
        notes.append((kinds.seen, subject_id, identifier))
    for key, child in shape.children:
        item[key] = walk(item[key], child, notes)
    return item


def page(value: dict[str, Any], shape: PageShape, notes: list[Subject],
         limit: int) -> dict[str, Any]:
    rows = value["n"]
    has_next = len(rows) > limit
    rows = rows[:limit]
    keys = [(row.pop(CURSOR_KEY), row[GUARD_KEY][0]) for row in rows]
    out: dict[str, Any] = {}
    for key, name in shape.fields:
        if name == "__typename":
            out[key] = shape.typenames["HouseholdConnection"]
        elif name == "totalCount":
            out[key] = value["t"]
        elif name == "pageInfo":
            out[key] = _page_info(shape, has_next, _cursor(keys[-1]) if keys else None)
        else:  # edges: the guard checks each edge's node, as on HouseholdConnection.edges
            out[key] = _edges(rows, keys, shape, notes)
    return out


def _cursor(key: tuple[str, int]) -> str:
    return encode_cursor("household", list(key))


def _page_info(shape: PageShape, has_next: bool, end_cursor: str | None) -> dict[str, Any]:
    values = {"hasNextPage": has_next, "endCursor": end_cursor,
              "__typename": shape.typenames["PageInfo"]}
    return {key: values[name] for key, name in shape.page_info_fields}


def _edges(rows: list[dict[str, Any]], keys: list[tuple[str, int]], shape: PageShape,
           notes: list[Subject]) -> list[dict[str, Any]]:
    edges = []
    wants_cursor = any(name == "cursor" for _, name in shape.edge_fields)
    for row, key in zip(rows, keys, strict=True):
        node = _object(row, shape.node, notes)
        if node is None:
            continue
        values = {"cursor": _cursor(key) if wants_cursor else None, "node": node,
                  "__typename": shape.typenames["HouseholdEdge"]}
        edges.append({name_key: values[name] for name_key, name in shape.edge_fields})
    return edges
