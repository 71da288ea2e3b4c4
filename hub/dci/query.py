"""DCI search criteria, pure: `idtype-value` (an identifier of the Indonesia profile)
and `predicate` (conditions on desil, region, programme, age, sex), with pagination
and sort, each fault a `Rejection` with the standard's reason code."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.dci.envelope import Rejection, parse_timestamp

# Identifier types of the Indonesia profile: name -> what it identifies.
ID_TYPES = {"NIK": "person", "KK": "household", "NISN": "person", "BPJS": "person"}
ATTRIBUTES = {"desil": int, "region_code": str, "program": str, "age": int, "sex": str}
OPERATORS = {"gt", "lt", "eq", "ge", "le", "in"}
SORTABLE = {"desil", "region_code", "id"}
ISO_639_3 = re.compile(r"[a-z]{3}")  # ASCII letters only: "éèà" is no language code
# The whole numbers a predicate may compare, per attribute: a value outside can match
# nobody, and one far outside would overflow a date or an SQL integer.
INT_RANGES = {"desil": (1, 10), "age": (0, 150)}
MAX_PAGE_NUMBER = 1_000_000


@dataclass(frozen=True, slots=True)
class IdQuery:
    id_type: str
    value: str


@dataclass(frozen=True, slots=True)
class Comparison:
    attribute: str
    operator: str
    value: Any


@dataclass(frozen=True, slots=True)
class Combined:
    condition: str  # and, or, not
    left: Comparison
    right: Comparison | None = None


Term = Comparison | Combined


@dataclass(frozen=True, slots=True)
class ExpressionQuery:
    """A GraphQL document run through the hub's own schema, as the caller."""

    document: str
    variables: dict[str, Any] | None
    operation_name: str | None


@dataclass(frozen=True, slots=True)
class SearchItem:
    reference_id: str
    timestamp: datetime
    query: IdQuery | tuple[Term, ...] | ExpressionQuery
    page_size: int
    page_number: int
    sort: tuple[tuple[str, str], ...]
    entity: str  # Group or Member
    locale: str | None


def _suffix(value: str) -> str:
    """`ns:id:NIK` and `NIK` name the same type."""
    return value.rsplit(":", 1)[-1].strip().upper()


def parse_id_query(query: Any) -> IdQuery:
    if not isinstance(query, dict) or "type" not in query or "value" not in query:
        raise Rejection("rjct.filter.invalid", "an idtype-value query is "
                        "{\"type\": \"NIK\" | \"KK\" | \"NISN\" | \"BPJS\", \"value\": ...}")
    id_type = _suffix(str(query["type"]))
    if id_type not in ID_TYPES:
        raise Rejection("rjct.filter.invalid", f"identifier type {query['type']!r} is not "
                        f"one of {', '.join(ID_TYPES)}")
    value = query["value"]
    if not isinstance(value, str | int) or isinstance(value, bool) or not str(value).strip():
        raise Rejection("rjct.filter.invalid", "the identifier value must be a string")
    return IdQuery(id_type, str(value).strip())


def parse_expression(query: Any) -> ExpressionQuery:
    """`{"type": "graphql", "value": {"expression": "query { … }", "variables": {…},
    "operation_name": …}}`: GraphQL is the hub's expression language."""
    if not isinstance(query, dict) or not isinstance(query.get("value"), dict):
        raise Rejection("rjct.filter.invalid", "an expression query is {\"type\": "
                        "\"graphql\", \"value\": {\"expression\": \"query { … }\"}}")
    kind = str(query.get("type", "graphql")).rsplit(":", 1)[-1].lower()
    if kind != "graphql":
        raise Rejection("rjct.filter.invalid", f"expression type {query.get('type')!r}: "
                        "this hub's expression language is graphql")
    value = query["value"]
    document = value.get("expression")
    if not isinstance(document, str) or not document.strip():
        raise Rejection("rjct.filter.invalid", "value.expression is a GraphQL document")
    variables = value.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise Rejection("rjct.filter.invalid", "value.variables is an object")
    name = value.get("operation_name")
    if name is not None and not isinstance(name, str):
        raise Rejection("rjct.filter.invalid", "value.operation_name is a string")
    return ExpressionQuery(document, variables, name)


def _comparison(raw: Any, where: str) -> Comparison:
    if not isinstance(raw, dict):
        raise Rejection("rjct.filter.invalid", f"{where} must be an object with "
                        "attribute_name, operator and attribute_value")
    attribute = str(raw.get("attribute_name", "")).strip()
    operator = str(raw.get("operator", "")).strip()
    if attribute not in ATTRIBUTES:
        raise Rejection("rjct.filter.invalid", f"{where}.attribute_name {attribute!r} is not "
                        f"one of {', '.join(sorted(ATTRIBUTES))}")
    if operator not in OPERATORS:
        raise Rejection("rjct.filter.invalid", f"{where}.operator {operator!r} is not one of "
                        f"{', '.join(sorted(OPERATORS))}")
    value = raw.get("attribute_value")
    kind = ATTRIBUTES[attribute]
    if operator == "in" and isinstance(value, str):
        # The spec's attribute_value has no array form: `in` takes "a,b,c" (or a list).
        value = [part for part in (p.strip() for p in value.split(",")) if part]
    values = value if operator == "in" else [value]
    if not isinstance(values, list) or not values:
        raise Rejection("rjct.filter.invalid", f"{where}: `in` takes a comma-separated "
                        "list (\"PBI_JKN,PKH\") or an array")
    checked = []
    for item in values:
        if kind is int:
            if isinstance(item, str) and item.strip().lstrip("-").isdigit():
                item = int(item)
            if not isinstance(item, int) or isinstance(item, bool):
                raise Rejection("rjct.filter.invalid", f"{where}: {attribute} takes whole "
                                f"numbers, got {str(item)[:40]!r}")
            low, high = INT_RANGES[attribute]
            if not low <= item <= high:
                raise Rejection("rjct.filter.invalid", f"{where}: {attribute} is {low} to "
                                f"{high}, got {str(item)[:40]}")
        elif not isinstance(item, str) or not item.strip():
            raise Rejection("rjct.filter.invalid", f"{where}: {attribute} takes text, "
                            f"got {item!r}")
        checked.append(item.strip().upper() if attribute in ("program", "sex")
                       else item.strip() if isinstance(item, str) else item)
    if attribute in ("region_code", "program", "sex") and operator not in ("eq", "in"):
        raise Rejection("rjct.filter.invalid", f"{where}: {attribute} takes eq or in")
    return Comparison(attribute, operator, checked if operator == "in" else checked[0])


def parse_predicate(query: Any) -> tuple[Term, ...]:
    if not isinstance(query, list) or not query:
        raise Rejection("rjct.filter.invalid", "a predicate query is a non-empty list of "
                        "{seq_num, expression1, condition, expression2}")
    terms: list[tuple[float, Term]] = []
    for position, raw in enumerate(query):
        where = f"query[{position}]"
        if not isinstance(raw, dict) or "expression1" not in raw:
            raise Rejection("rjct.filter.invalid", f"{where} needs expression1")
        left = _comparison(raw["expression1"], f"{where}.expression1")
        condition = raw.get("condition")
        right_raw = raw.get("expression2")
        if condition is None and right_raw is None:
            term: Term = left
        elif condition == "not" and right_raw is None:
            term = Combined("not", left)
        elif condition in ("and", "or") and right_raw is not None:
            term = Combined(condition, left, _comparison(right_raw, f"{where}.expression2"))
        else:
            raise Rejection("rjct.filter.invalid", f"{where}: condition and/or takes "
                            "expression2; not takes none")
        seq = raw.get("seq_num", position)
        if not isinstance(seq, int | float) or isinstance(seq, bool):
            raise Rejection("rjct.filter.invalid", f"{where}.seq_num must be a number")
        terms.append((seq, term))
    return tuple(term for _, term in sorted(terms, key=lambda pair: pair[0]))


def parse_item(raw: Any, max_page_size: int, *, tolerant_locale: bool = False) -> SearchItem:
    if not isinstance(raw, dict):
        raise Rejection("rjct.search_criteria.invalid", "each search_request item is an "
                        "object")
    reference = raw.get("reference_id")
    if not isinstance(reference, str) or not reference.strip():
        raise Rejection("rjct.reference_id.invalid", "reference_id is required")
    moment = parse_timestamp(raw.get("timestamp"), "rjct.timestamp.invalid", "timestamp")
    criteria = raw.get("search_criteria")
    if not isinstance(criteria, dict):
        raise Rejection("rjct.search_criteria.invalid", "search_criteria is required")
    query_type = criteria.get("query_type")
    if query_type == "idtype-value":
        query: IdQuery | tuple[Term, ...] | ExpressionQuery = parse_id_query(
            criteria.get("query"))
    elif query_type == "predicate":
        query = parse_predicate(criteria.get("query"))
    elif query_type == "expression":
        query = parse_expression(criteria.get("query"))
    else:
        raise Rejection("rjct.search_criteria.invalid", f"query_type {query_type!r} is not "
                        "one of idtype-value, predicate, expression")
    size, number = _pagination(criteria.get("pagination"), max_page_size)
    entity = criteria.get("response_entity", "Group")
    if entity not in ("Group", "Member"):
        raise Rejection("rjct.search_criteria.invalid", "response_entity is Group or Member")
    return SearchItem(reference.strip(), moment, query, size, number,
                      _sort(criteria.get("sort")), entity,
                      _locale(raw.get("locale"), tolerant_locale))


def _pagination(raw: Any, max_page_size: int) -> tuple[int, int]:
    if raw is None:
        return min(100, max_page_size), 1
    if not isinstance(raw, dict):
        raise Rejection("rjct.pagination.invalid", "pagination is {page_size, page_number}")
    size, number = raw.get("page_size"), raw.get("page_number", 1)
    for name, value in (("page_size", size), ("page_number", number)):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise Rejection("rjct.pagination.invalid", f"pagination.{name} must be a whole "
                            f"number from 1 (pages count from 1), got {value!r}")
        if name == "page_size":
            size = value
        elif value > MAX_PAGE_NUMBER:
            raise Rejection("rjct.pagination.invalid", "pagination.page_number is at most "
                            f"{MAX_PAGE_NUMBER:,}")
        else:
            number = value
    if size > max_page_size:
        raise Rejection("rjct.pagination.invalid", f"pagination.page_size is at most "
                        f"{max_page_size}, got {size}")
    return size, number


def _sort(raw: Any) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise Rejection("rjct.sort.invalid", "sort is a list of {attribute_name, sort_order}")
    out = []
    for item in raw:
        name = item.get("attribute_name") if isinstance(item, dict) else None
        order = item.get("sort_order", "asc") if isinstance(item, dict) else None
        if name not in SORTABLE or order not in ("asc", "desc"):
            raise Rejection("rjct.sort.invalid", f"sort on {', '.join(sorted(SORTABLE))}, "
                            "asc or desc")
        out.append((name, order))
    return tuple(out)


def _locale(raw: Any, tolerant: bool) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, str) and ISO_639_3.fullmatch(raw):
        return raw
    if tolerant and isinstance(raw, str) and re.fullmatch(r"[A-Za-z]{2}", raw):
        return {"id": "ind", "en": "eng"}.get(raw.lower(), raw.lower())
    raise Rejection("rjct.search_criteria.invalid", f"locale {raw!r} is not an ISO 639-3 "
                    "code (three lower-case letters, e.g. ind, eng)")


@dataclass(frozen=True, slots=True)
class EnrolledQuestion:
    id_type: str  # NIK (a person) or KK (a family)
    value: str
    program: str


def enrolled_question(criteria: Any) -> EnrolledQuestion:
    """IBR `enrolled_criteria.query`: `{"person_identifier": {"eq": NIK}` (or
    `group_identifier` for a KK) and a programme key (`programme_identifier...`) with
    `{"eq": "PBI_JKN"}`."""
    query = criteria.get("query") if isinstance(criteria, dict) else None
    if not isinstance(query, dict):
        raise Rejection("rjct.search_criteria.invalid", "enrolled_criteria.query is "
                        "required")
    subject, program = None, None
    for key, condition in query.items():
        value = condition.get("eq") if isinstance(condition, dict) else None
        if not isinstance(value, str | int) or isinstance(value, bool) or not str(value):
            raise Rejection("rjct.filter.invalid", f"{key} takes {{\"eq\": <value>}}")
        name = key.lower()
        if name.startswith("person_identifier"):
            subject = ("NIK", str(value).strip())
        elif name.startswith("group_identifier"):
            subject = ("KK", str(value).strip())
        elif "programme" in name or "program" in name:
            program = str(value).strip().upper()
    if subject is None or program is None:
        raise Rejection("rjct.filter.invalid", "ask about a person_identifier (NIK) or a "
                        "group_identifier (KK) and a programme_identifier")
    return EnrolledQuestion(subject[0], subject[1], program)
