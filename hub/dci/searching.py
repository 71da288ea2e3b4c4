"""A DCI search message answered, the same way whether it came synchronously or is
processed later for an asynchronous caller: each search request checked, run inside the
caller's regions, and its subjects noted for the audit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from hub.access.audit import AuditEvent
from hub.access.roles import Principal
from hub.dci import registry
from hub.dci.envelope import Header, Rejection, timestamp
from hub.dci.query import ExpressionQuery, parse_item
from hub.schema.http import RequestProblem

# Runs a GraphQL document as a principal: the GraphQL endpoint's `run`.
Expressions = Callable[[ExpressionQuery, Principal], Awaitable[tuple[dict[str, Any], bool]]]

MAX_ITEMS = 100  # search requests in one message
REG_TYPE = "ns:org:RegistryType:Social"


def search_requests(header: Header, message: Any) -> list[Any]:
    """The message's search requests, or the rejection of the whole message."""
    requests = message.get("search_request") if isinstance(message, dict) else None
    if not isinstance(requests, list) or not requests:
        raise Rejection("rjct.action.invalid", "message.search_request must be a non-empty "
                        "list")
    if len(requests) > MAX_ITEMS:
        raise Rejection("rjct.total_count.limit_exceeded", f"at most {MAX_ITEMS} search "
                        "requests in one message")
    if header.total_count != len(requests):
        raise Rejection("rjct.total_count.invalid", f"header.total_count is "
                        f"{header.total_count} but the message holds {len(requests)} "
                        "search requests")
    return requests


def reference_ids(items: list[Any], key: str = "reference_id") -> list[str]:
    return [str(item.get(key)) for item in items if isinstance(item, dict) and item.get(key)]


def search_event(principal: Principal, operation: str) -> AuditEvent:
    return AuditEvent(principal=principal, purpose=principal.purpose, operation_type="dci",
                      operation=operation, root_fields=["search"], fields=["Group", "Member"])


async def answer(engine: AsyncEngine, raw: Any, principal: Principal, event: AuditEvent,
                 max_page_size: int, expressions: Expressions, *,
                 tolerant_locale: bool = False) -> dict[str, Any]:
    """One search request's response item (succ with data, or rjct with its reason)."""
    reference = raw.get("reference_id") if isinstance(raw, dict) else None
    reply: dict[str, Any] = {"reference_id": str(reference or ""),
                             "timestamp": timestamp(datetime.now(UTC))}
    try:
        item = parse_item(raw, max_page_size, tolerant_locale=tolerant_locale)
    except Rejection as rejection:
        return {**reply, "status": "rjct", "status_reason_code": rejection.code,
                "status_reason_message": rejection.message[:999]}
    if isinstance(item.query, ExpressionQuery):
        return reply | await _expression(item.query, principal, expressions)
    found = await registry.search(engine, item, principal.scope, date.today())
    for kind, subject, identifier in found.subjects:
        event.note(kind, subject, identifier)
    reply |= {"status": "succ", "data": {
        "version": "1.0.0", "reg_type": REG_TYPE, "reg_record_type": item.entity,
        "reg_records": found.records},
        "pagination": {"page_size": item.page_size, "page_number": item.page_number,
                       "total_count": found.total}}
    if item.locale:
        reply["locale"] = item.locale
    return reply


async def _expression(query: ExpressionQuery, principal: Principal,
                      expressions: Expressions) -> dict[str, Any]:
    """The GraphQL result as the one record of the answer (its `data`, and `errors`
    beside it when some fields failed); a document the caller may not run is refused
    with the GraphQL errors' messages."""
    try:
        body, request_error = await expressions(query, principal)
    except RequestProblem as problem:
        if problem.status == 503:  # the database is away: the whole message waits
            raise ConnectionError(str(problem)) from problem
        body, request_error = {"errors": [{"message": str(problem)}]}, True
    if request_error or body.get("data") is None:
        messages = "; ".join(e.get("message", "") for e in body.get("errors", []))
        return {"status": "rjct", "status_reason_code": "rjct.search_criteria.invalid",
                "status_reason_message": f"the GraphQL expression was refused: "
                                         f"{messages}"[:999]}
    record = {"data": body["data"]}
    if body.get("errors"):
        record["errors"] = body["errors"]
    return {"status": "succ",
            "data": {"version": "1.0.0", "reg_type": REG_TYPE, "reg_record_type": "graphql",
                     "reg_records": [record]},
            "pagination": {"page_size": 1, "page_number": 1, "total_count": 1}}


def search_response(transaction_id: str, correlation_id: str,
                    items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"transaction_id": transaction_id, "correlation_id": correlation_id,
            "search_response": items}
