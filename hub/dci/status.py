"""`txn/status`: what became of a sender's earlier asynchronous request, found by its
transaction id, its correlation id (the request's message id) or its reference ids.

Only asynchronous requests are kept (their answers wait to be delivered and may be
asked for again); a synchronous search was answered in its own reply, and its results
are not stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.access.audit import AuditEvent
from hub.access.roles import Principal
from hub.db.models import DciTransaction
from hub.dci.envelope import Rejection, timestamp

TXN_TYPES = {"search": "search", "subscribe": "subscribe"}
ATTRIBUTES = ("transaction_id", "reference_id_list", "correlation_id")
RECENT = 1000  # transactions of the sender searched for reference ids


@dataclass(frozen=True, slots=True)
class StatusQuestion:
    transaction_id: str
    reference_id: str
    txn_type: str
    attribute: str
    value: str | tuple[str, ...]


def parse_question(message: Any) -> StatusQuestion:
    request = message.get("txnstatus_request") if isinstance(message, dict) else None
    if not isinstance(request, dict):
        raise Rejection("rjct.action.invalid", "message.txnstatus_request is required")
    txn_type = request.get("txn_type")
    if txn_type == "receipt":
        raise Rejection("rjct.action.not_supported", "txn_type receipt is not kept: "
                        "enrolment updates are answered in their own reply")
    if txn_type not in TXN_TYPES:
        raise Rejection("rjct.action.invalid", "txnstatus_request.txn_type is search or "
                        f"subscribe, got {txn_type!r}")
    attribute = request.get("attribute_type")
    if attribute not in ATTRIBUTES:
        raise Rejection("rjct.action.invalid", "txnstatus_request.attribute_type is one of "
                        f"{', '.join(ATTRIBUTES)}, got {attribute!r}")
    value = request.get("attribute_value")
    if attribute == "reference_id_list":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value or \
                not all(isinstance(v, str) and v for v in value):
            raise Rejection("rjct.action.invalid", "attribute_value is a list of "
                            "reference ids")
        value = tuple(value)
    elif not isinstance(value, str) or not value.strip():
        raise Rejection("rjct.action.invalid", f"attribute_value is the {attribute}")
    reference = request.get("reference_id")
    if not isinstance(reference, str) or not reference:
        raise Rejection("rjct.action.invalid", "txnstatus_request.reference_id is required")
    return StatusQuestion(str(message.get("transaction_id") or ""), reference, txn_type,
                          attribute, value)


async def find(conn: AsyncConnection, sender_id: str, client_id: int,
               question: StatusQuestion) -> list[Any]:
    """The sender's transactions the question names, newest first, made by this same
    client: another client speaking as the sender does not see their answers."""
    query = select(DciTransaction.__table__).where(
        DciTransaction.sender_id == sender_id, DciTransaction.client_id == client_id,
        DciTransaction.action == TXN_TYPES[question.txn_type])
    if question.attribute == "transaction_id":
        query = query.where(DciTransaction.transaction_id == question.value)
    elif question.attribute == "correlation_id":
        query = query.where(DciTransaction.correlation_id == question.value)
    rows = (await conn.execute(query.order_by(DciTransaction.id.desc()).limit(RECENT))
            ).mappings().all()
    if question.attribute == "reference_id_list":
        wanted = set(question.value)
        rows = [r for r in rows if wanted & set(r["reference_ids"])]
    return list(rows)


def subjects(response: dict[str, Any]) -> list[tuple[str, int, str | None]]:
    """The persons and households a status answer shows (for the audit): read back
    from the records' `@id` and identifiers."""
    found: list[tuple[str, int, str | None]] = []

    def note(record: Any) -> None:
        if not isinstance(record, dict) or not isinstance(record.get("@id"), str):
            return
        kind, _, number = record["@id"].removeprefix("urn:slrt-hub:").partition(":")
        if kind in ("person", "household") and number.isdigit():
            identifiers = record.get("member_identifier") or record.get("group_identifier")
            value = identifiers[0].get("identifier_value") if identifiers else None
            found.append((kind, int(number), value))
        for member in record.get("member_list") or ():
            note(member)

    status = response.get("txnstatus_response", {}).get("txn_status", {})
    for item in status.get("search_response") or ():
        for record in (item.get("data") or {}).get("reg_records") or ():
            note(record)
    return found


def read_event(principal: Principal, answer: dict[str, Any]) -> AuditEvent | None:
    """A status answer that repeats a search's records is a read of them: its audit
    event, or None when it shows no one."""
    shown = subjects(answer)
    if not shown:
        return None
    event = AuditEvent(principal=principal, purpose=principal.purpose, operation_type="dci",
                       operation="registry/txn/status", root_fields=["txn_status"],
                       fields=["Group", "Member"])
    for kind, subject, identifier in shown:
        event.note(kind, subject, identifier)
    return event


def _items_of(row: Any, wanted: set[str] | None) -> list[dict[str, Any]]:
    if row["status"] == "pdng" or row["response"] is None:
        now = timestamp(datetime.now(UTC))
        return [{"reference_id": ref, "timestamp": now, "status": "pdng"}
                for ref in row["reference_ids"] if wanted is None or ref in wanted]
    response = row["response"]
    items = response.get("search_response") or [
        {"reference_id": item["reference_id"], "timestamp": item["timestamp"],
         "status": item["status"],
         **({"status_reason_message": item["status_reason_message"]}
            if item.get("status_reason_message") else {})}
        for item in response.get("subscribe_response", [])]
    return [item for item in items if wanted is None or item["reference_id"] in wanted]


def status_response(question: StatusQuestion, correlation_id: str, rows: list[Any]
                    ) -> dict[str, Any]:
    """The TxnStatusResponse: the stored answer (or `pdng` per reference id while it is
    being processed) of the latest matching transaction; none matching is a rejected
    item with `rjct.reference_id.invalid`, the code the spec has for it."""
    if rows:
        row = rows[0]
        wanted = set(question.value) if question.attribute == "reference_id_list" else None
        found = {"transaction_id": row["transaction_id"],
                 "correlation_id": row["correlation_id"],
                 "search_response": _items_of(row, wanted)}
    else:
        found = {"transaction_id": question.transaction_id, "correlation_id": "",
                 "search_response": [{
                     "reference_id": question.reference_id,
                     "timestamp": timestamp(datetime.now(UTC)), "status": "rjct",
                     "status_reason_code": "rjct.reference_id.invalid",
                     "status_reason_message": f"no {question.txn_type} transaction of this "
                     f"sender has {question.attribute} {question.value!r} (only "
                     "asynchronous requests are kept)"}]}
    return {"transaction_id": question.transaction_id, "correlation_id": correlation_id,
            "txnstatus_response": {"txn_type": question.txn_type, "txn_status": found}}
