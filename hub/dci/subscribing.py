"""DCI subscriptions: `/registry/subscribe` and `/registry/unsubscribe`. Made at once;
the answer (codes, or each rejection) goes to the sender's on-subscribe / on-unsubscribe,
as the standard has it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response

from hub.access.roles import Principal
from hub.db.models import DciSubscription, RegistryEvent
from hub.dci import outbox, searching
from hub.dci.envelope import Header, Rejection, timestamp
from hub.dci.frequency import next_due
from hub.dci.gateway import REGISTRY_ROLES, DciGateway, ack, err, faults_masked
from hub.dci.subscriptions import HUB_EVENT, SubscriptionSpec, parse_subscription


class SubscriptionEndpoints:
    """Standing requests for the registry's change notifications."""

    def __init__(self, gateway: DciGateway) -> None:
        self.gateway = gateway

    @faults_masked
    async def subscribe(self, request: Request) -> Response:
        """Subscriptions are made at once; the answer (codes, or each rejection) goes to
        the sender's on-subscribe, as the standard has it."""
        received = await self.gateway.opened_async(request, REGISTRY_ROLES, "subscribe",
                                                   "on-subscribe")
        if isinstance(received, Response):
            return received
        opened, target = received
        header, message, principal = opened.header, opened.message, opened.principal
        items = message.get("subscribe_request") if isinstance(message, dict) else None
        if not isinstance(items, list) or not items or len(items) != header.total_count:
            return err(header.message_id, "err.request.bad", "rjct.total_count.invalid: "
                       "message.subscribe_request is a non-empty list of "
                       "header.total_count items")
        now = datetime.now(UTC)
        answers = []
        async with self.gateway.engine.begin() as conn:
            head = (await conn.execute(select(func.max(RegistryEvent.id)))).scalar() or 0
            for raw in items:
                answers.append(await self._subscribe_one(conn, principal, header, message,
                                                         raw, target, head, now))
            response = {"transaction_id": str(message.get("transaction_id") or ""),
                        "correlation_id": header.message_id, "subscribe_response": answers}
            await self.gateway.keep_answer(
                conn, opened, target, "subscribe", searching.reference_ids(items), response,
                status="succ", callback="on-subscribe", total=len(items),
                completed=len(answers))
        self.gateway.wake()
        return ack(header.message_id)

    async def _subscribe_one(self, conn: AsyncConnection, principal: Principal,
                             header: Header, message: dict[str, Any], raw: Any,
                             target: str, head: int, now: datetime) -> dict[str, Any]:
        reference = str(raw.get("reference_id") or "") if isinstance(raw, dict) else ""
        answer: dict[str, Any] = {"reference_id": reference, "timestamp": timestamp(now)}
        try:
            spec = parse_subscription(raw, raw.get("locale") if isinstance(raw, dict)
                                      else None)
            await self._not_subscribed(conn, header.sender_id, spec)
        except Rejection as rejection:
            return {**answer, "status": "rjct", "status_reason_code": rejection.code,
                    "status_reason_message": rejection.message[:999]}
        code = uuid.uuid4().hex
        start = spec.start_time or now
        await conn.execute(DciSubscription.__table__.insert().values(
            code=code, sender_id=header.sender_id, client_id=principal.client_id,
            transaction_id=str(message.get("transaction_id") or "")[:99],
            reference_id=spec.reference_id[:99], event_types=list(spec.event_types),
            filter_type=spec.filter_type, filter=spec.filter,
            notify_record_type=spec.record_type, frequency=spec.frequency,
            start_time=spec.start_time, end_time=spec.end_time, callback_url=outbox
            .callback_url(target, "notify"), locale=spec.locale, status="subscribe",
            cursor=head, next_due_at=next_due(spec.frequency, max(start, now)) or now,
            created_at=now))
        return {**answer, "status": "succ", "subscriptions": [self._info(code, spec, now)]}

    @staticmethod
    async def _not_subscribed(conn: AsyncConnection, sender: str,
                              spec: SubscriptionSpec) -> None:
        """The same sender watching the same events and records twice would get every
        notification twice."""
        active = (await conn.execute(select(
            DciSubscription.code, DciSubscription.event_types, DciSubscription.filter,
            DciSubscription.notify_record_type, DciSubscription.frequency).where(
            DciSubscription.sender_id == sender, DciSubscription.status == "subscribe"))
        ).all()
        wanted = (list(spec.event_types), spec.filter, spec.record_type, spec.frequency)
        for row in active:
            if (list(row.event_types), row.filter, row.notify_record_type,
                    row.frequency) == wanted:
                raise Rejection("rjct.event.already_subscribed", f"subscription {row.code} "
                                "already watches these events and records")

    @staticmethod
    def _info(code: str, spec: SubscriptionSpec, now: datetime) -> dict[str, Any]:
        info: dict[str, Any] = {
            "code": code, "status": "subscribe", "timestamp": timestamp(now),
            "reg_type": searching.REG_TYPE,
            "reg_event_type": ",".join(HUB_EVENT[k] for k in spec.event_types),
            "notify_record_type": spec.record_type}
        if spec.filter_type != "none":
            info |= {"filter_type": spec.filter_type, "filter": spec.filter}
        if spec.frequency and spec.start_time and spec.end_time:
            info["frequency"] = {"start_time": timestamp(spec.start_time),
                                 "end_time": timestamp(spec.end_time),
                                 "frequency": spec.frequency}
        if spec.locale:
            info["locale"] = spec.locale
        return info

    @faults_masked
    async def unsubscribe(self, request: Request) -> Response:
        received = await self.gateway.opened_async(request, REGISTRY_ROLES, "unsubscribe",
                                                   "on-unsubscribe")
        if isinstance(received, Response):
            return received
        opened, target = received
        header, message = opened.header, opened.message
        codes = message.get("subscription_codes") if isinstance(message, dict) else None
        if not isinstance(codes, list) or not codes or \
                not all(isinstance(c, str) and c for c in codes):
            return err(header.message_id, "err.request.bad", "message.subscription_codes "
                       "is a non-empty list of subscription codes")
        now = datetime.now(UTC)
        ended: list[dict[str, str]] = []
        problem: Rejection | None = None
        async with self.gateway.engine.begin() as conn:
            rows = {r.code: r for r in (await conn.execute(select(
                DciSubscription.code, DciSubscription.sender_id, DciSubscription.status)
                .where(DciSubscription.code.in_(codes)))).all()}
            for code in codes:
                row = rows.get(code)
                if row is None or row.sender_id != header.sender_id:
                    problem = problem or Rejection("rjct.subscription_code.invalid",
                                                   f"{code} is not a subscription of "
                                                   f"{header.sender_id}")
                elif row.status != "subscribe":
                    problem = problem or Rejection("rjct.event.already_unsubscribed",
                                                   f"{code} has ended already")
                else:
                    await conn.execute(update(DciSubscription).where(
                        DciSubscription.code == code).values(status="unsubscribe",
                                                             ended_at=now))
                    ended.append({"code": code, "status": "unsubscribe"})
            response: dict[str, Any] = {
                "transaction_id": str(message.get("transaction_id") or ""),
                "correlation_id": header.message_id, "timestamp": timestamp(now),
                "status": "rjct" if problem else "succ", "subscription_status": ended}
            if problem:
                response |= {"status_reason_code": problem.code,
                             "status_reason_message": problem.message[:999]}
            await self.gateway.keep_answer(
                conn, opened, target, "unsubscribe", [], response,
                status="rjct" if problem else "succ", callback="on-unsubscribe",
                total=len(codes), completed=len(ended))
        self.gateway.wake()
        return ack(header.message_id)
