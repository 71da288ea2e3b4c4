"""Asynchronous DCI requests: acknowledged at once, kept as a `dci_transaction`, then
processed (by the replica that claims it) into the answer, which is stored for
`txn/status` and queued for the sender's callback in one transaction.

A request is claimed for a while (`CLAIM_SECONDS`); a replica that dies mid-way leaves
it to be claimed again, and the answer is written once because its transaction and its
callback commit together.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.access.audit import AuditWriter
from hub.access.clients import ClientStore
from hub.access.roles import Principal
from hub.config import HubSettings
from hub.db.models import DciTransaction
from hub.dci import outbox, searching, status
from hub.dci.envelope import Header, Rejection

log = logging.getLogger("hub.dci")
CLAIM_SECONDS = 120.0
PER_RUN = 20
CALLBACK_ACTION = {"search": "on-search", "txn-status": "txn-on-status"}


def _now() -> datetime:
    return datetime.now(UTC)


async def open_transaction(conn: AsyncConnection, principal: Principal, header: Header,
                           action: str, message: dict[str, Any], references: list[str],
                           callback_url: str, *, status_: str = "pdng",
                           response: dict[str, Any] | None = None) -> None:
    """Keep an asynchronous request (or, with a response, one answered at once)."""
    now = _now()
    try:
        await conn.execute(DciTransaction.__table__.insert().values(
            sender_id=header.sender_id, client_id=principal.client_id, action=action,
            transaction_id=str(message.get("transaction_id") or "")[:99],
            correlation_id=header.message_id, reference_ids=references,
            callback_url=callback_url, request=message, response=response, status=status_,
            created_at=now, completed_at=now if response is not None else None))
    except IntegrityError:
        raise Rejection("rjct.message_id.duplicate", f"message {header.message_id} from "
                        f"{header.sender_id} was received already") from None


class TransactionWorker:
    def __init__(self, engine: AsyncEngine, settings: HubSettings, clients: ClientStore,
                 audit: AuditWriter, hub_id: str, expressions: searching.Expressions,
                 clock: Callable[[], datetime] = _now) -> None:
        self.engine = engine
        self.settings = settings
        self.clients = clients
        self.audit = audit
        self.hub_id = hub_id
        self.expressions = expressions
        self.clock = clock

    async def run_once(self) -> int:
        """Process the pending requests this replica can claim; returns how many."""
        now = self.clock()
        async with self.engine.connect() as conn:
            pending = (await conn.execute(select(DciTransaction.__table__).where(
                DciTransaction.status == "pdng",
                DciTransaction.action.in_(CALLBACK_ACTION),
                or_(DciTransaction.claimed_until.is_(None),
                    DciTransaction.claimed_until < now))
                .order_by(DciTransaction.id).limit(PER_RUN))).mappings().all()
        done = 0
        for row in pending:
            if await self._claim(row, now):
                try:
                    await self._process(row)
                except (OSError, OperationalError, InterfaceError):
                    raise  # the database is away: the claim lapses and a pass retries it
                except Exception:
                    # A fault this request meets every time would be retried forever:
                    # it ends now, with its rjct callback (and the fault in the log).
                    log.exception("DCI transaction %s failed; answered rjct", row["id"])
                    await self._answer(row, {}, {
                        "status": "rjct", "code": "rjct.action.invalid",
                        "message": "the hub could not process this request; the fault "
                                   "has been logged"}, "rjct")
                done += 1
        return done

    async def _claim(self, row: Any, now: datetime) -> bool:
        async with self.engine.begin() as conn:
            claimed = await conn.execute(update(DciTransaction).where(
                DciTransaction.id == row["id"], DciTransaction.status == "pdng",
                or_(DciTransaction.claimed_until.is_(None),
                    DciTransaction.claimed_until < now)).values(
                claimed_until=now + timedelta(seconds=CLAIM_SECONDS)))
        return claimed.rowcount == 1

    async def _process(self, row: Any) -> None:
        principal = await self.clients.by_id(row["client_id"])
        header_kwargs: dict[str, Any]
        if principal is None:
            message: dict[str, Any] = {}  # a rejected message's answer is its header
            header_kwargs = {"status": "rjct", "code": "rjct.action.invalid",
                             "message": "the requesting client has been revoked"}
            state = "rjct"
        elif row["action"] == "search":
            message, header_kwargs = await self._search(row, principal)
            state = "succ"
        else:
            message, header_kwargs = await self._status(row, principal)
            state = header_kwargs.get("status", "succ")
        await self._answer(row, message, header_kwargs, state)

    async def _answer(self, row: Any, message: dict[str, Any], header_kwargs: dict[str, Any],
                      state: str) -> None:
        action = CALLBACK_ACTION[row["action"]]
        header = outbox.callback_header(self.hub_id, row["sender_id"], action, **header_kwargs)
        async with self.engine.begin() as conn:
            await conn.execute(update(DciTransaction).where(DciTransaction.id == row["id"])
                               .values(status=state, response=message,
                                       completed_at=self.clock()))
            await outbox.enqueue(conn, row["sender_id"], row["callback_url"], header,
                                 message)

    async def _search(self, row: Any, principal: Principal
                      ) -> tuple[dict[str, Any], dict[str, Any]]:
        items = row["request"]["search_request"]
        event = searching.search_event(principal, "registry/search")
        sender = self.settings.dci.senders.get(row["sender_id"])
        tolerant = "two_letter_locale" in self.settings.dci.tolerate or bool(
            sender and "two_letter_locale" in sender.tolerate)
        responses = [await searching.answer(self.engine, raw, principal, event,
                                            self.settings.server.max_page_size,
                                            self.expressions, tolerant_locale=tolerant)
                     for raw in items]
        self.audit.record(event)
        return (searching.search_response(row["transaction_id"], row["correlation_id"],
                                          responses),
                {"total": len(items), "completed": len(responses)})

    async def _status(self, row: Any, principal: Principal
                      ) -> tuple[dict[str, Any], dict[str, Any]]:
        try:
            question = status.parse_question(row["request"])
            async with self.engine.connect() as conn:
                found = await status.find(conn, row["sender_id"], row["client_id"], question)
            answer = status.status_response(question, row["correlation_id"], found)
            if (event := status.read_event(principal, answer)) is not None:
                self.audit.record(event)
            return answer, {"total": 1, "completed": 1}
        except Rejection as rejection:
            return ({}, {"status": "rjct", "code": rejection.code, "message": rejection.message,
                     "total": 1})
