"""The DCI registry endpoints under /dci: social registry search (sync and async),
transaction status, subscriptions, and the IBR's enrolment check and updates.

Every message is authenticated like the GraphQL API, its sender checked against the
sender registry (and its signature verified), its message id refused if replayed,
limited to the clients whose role may ask, inside their regions, and audited. The
synchronous endpoints answer in the reply; the asynchronous ones acknowledge (`ACK`,
or `ERR` with the reason) and answer through the sender's callback.
"""

from __future__ import annotations

import functools
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hub.access import keys
from hub.access.audit import AuditEvent, AuditWriter
from hub.access.authn import AuthenticationFailed, Authenticator
from hub.access.keystore import KeyStore
from hub.access.ratelimit import RateLimiter
from hub.access.roles import Principal, Role
from hub.config import HubSettings
from hub.connectors.staging import prepare, stage_page
from hub.db.models import DciMessage, DciSubscription, RegistryEvent
from hub.dci import ibr, outbox, registry, searching, signatures, status
from hub.dci.envelope import Header, Rejection, parse_header, reply_header, timestamp
from hub.dci.frequency import next_due
from hub.dci.query import enrolled_question
from hub.dci.senders import SenderRefused, SenderRegistry
from hub.dci.subscriptions import HUB_EVENT, SubscriptionSpec, parse_subscription
from hub.dci.transactions import open_transaction

logger = logging.getLogger("hub.dci")
REGISTRY_ROLES = frozenset({Role.NATIONAL, Role.DISTRICT})
# "Is this person enrolled in programme X" answers yes or no and nothing else: what an
# agency or a partner needs so that help is not given twice.
ENROLLED_ROLES = REGISTRY_ROLES | {Role.AGENCY, Role.PARTNER}
# A programme's system (an agency, or Kemensos) pushes its enrolments.
UPDATE_ROLES = frozenset({Role.NATIONAL, Role.AGENCY})
MAX_BENEFICIARIES = 10_000


def faults_masked(endpoint: Callable[[Any, Request], Awaitable[Response]]
                  ) -> Callable[[Any, Request], Awaitable[Response]]:
    """A fault of ours (the database away, a bug) is logged with its traceback and
    answered in the DCI error shape, never with a stack trace."""
    @functools.wraps(endpoint)
    async def wrapped(self: Any, request: Request) -> Response:
        try:
            return await endpoint(self, request)
        except Exception:
            logger.exception("DCI %s failed", request.url.path)
            return _http_error(500, "err.internal", "the hub could not process the message; "
                               "it has been logged")

    return wrapped


def _http_error(status_code: int, code: str, message: str, **headers: str) -> Response:
    """The DCI HttpErrorResponse shape."""
    return JSONResponse({"errors": [{"code": code, "message": message}]},
                        status_code=status_code, headers=headers or None)


@dataclass
class Opened:
    principal: Principal
    header: Header
    message: Any


def _ack(correlation_id: str) -> Response:
    return JSONResponse({"message": {"ack_status": "ACK",
                                     "timestamp": timestamp(datetime.now(UTC)),
                                     "correlation_id": correlation_id}})


def _err(correlation_id: str, code: str, message: str, status_code: int = 400) -> Response:
    """An asynchronous request that cannot be processed: `ERR` with the DCI error code
    (and the `rjct.*` reason, when there is one, leading the message)."""
    return JSONResponse({"message": {"ack_status": "ERR",
                                     "timestamp": timestamp(datetime.now(UTC)),
                                     "correlation_id": correlation_id,
                                     "error": {"code": code, "message": message[:999]}}},
                        status_code=status_code)


class DciEndpoints:
    def __init__(self, engine: AsyncEngine, settings: HubSettings,
                 authenticator: Authenticator, limiter: RateLimiter,
                 audit: AuditWriter, keystore: KeyStore,
                 expressions: searching.Expressions) -> None:
        self.engine = engine
        self.settings = settings
        self.authenticator = authenticator
        self.limiter = limiter
        self.audit = audit
        self.keystore = keystore
        self.expressions = expressions
        self.senders = SenderRegistry(settings.dci)
        self.hub_id = settings.access.token_issuer
        self.wake: Callable[[], None] = lambda: None  # the worker's, once it runs

    # -- the envelope ------------------------------------------------------------

    async def _principal(self, request: Request,
                         roles: frozenset[Role] = REGISTRY_ROLES) -> Principal | Response:
        token = keys.bearer_token(request.headers.get("authorization"))
        if token is None:
            return _http_error(401, "err.unauthenticated", "send Authorization: Bearer "
                               "<access token or API key>", **{"WWW-Authenticate": "Bearer"})
        try:
            principal = await self.authenticator.authenticate(token)
        except AuthenticationFailed as refused:
            return _http_error(401, "err.unauthenticated", refused.reason,
                               **{"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if principal.role not in roles:
            return _http_error(403, "err.forbidden", f"a {principal.role.value} client may "
                               "not use this endpoint")
        per_minute = principal.rate_per_minute or self.settings.access.rate_per_minute
        wait = self.limiter.take(principal.client_id, per_minute)
        if wait is not None:
            return _http_error(429, "err.rate_limited", f"rate limit of {per_minute} "
                               "requests per minute exceeded",
                               **{"Retry-After": str(max(1, round(wait)))})
        return principal

    async def _envelope(self, request: Request, roles: frozenset[Role], action: str,
                        *, callback: bool = False) -> Opened | Response:
        """Authenticate, read and check the envelope and its signature, refuse a
        replayed message id."""
        principal = await self._principal(request, roles)
        if isinstance(principal, Response):
            return principal
        body = await request.body()
        if len(body) > self.settings.access.max_body_bytes:
            return _http_error(413, "err.too_large", "the message is too large")
        try:
            envelope = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return _http_error(400, "err.request.invalid", "the body is not JSON")
        if not isinstance(envelope, dict):
            return _http_error(400, "err.request.invalid", "the body is a JSON object with "
                               "header and message")
        raw_header = envelope.get("header")
        sender = raw_header.get("sender_id") if isinstance(raw_header, dict) else None
        try:
            header = parse_header(raw_header, action, callback=callback,
                                  tolerate_string_count=self.senders.tolerates(
                                      sender, "string_total_count"))
        except Rejection as rejection:
            return self._rejected(None, rejection, 400)
        message = envelope.get("message")
        try:
            await self.senders.admit(principal, header, raw_header, message,
                                     envelope.get("signature"))
        except SenderRefused as refused:
            return _http_error(refused.status, refused.code, refused.message)
        entry = self.senders.entry(header.sender_id)
        if entry is not None and entry.rate_per_minute:
            wait = self.limiter.take(f"sender:{header.sender_id}", entry.rate_per_minute)
            if wait is not None:
                return _http_error(429, "err.request.too_many_requests", f"sender "
                                   f"{header.sender_id} is limited to {entry.rate_per_minute}"
                                   " messages per minute",
                                   **{"Retry-After": str(max(1, round(wait)))})
        try:
            await self._remember(header)
        except Rejection as rejection:
            return self._rejected(header, rejection, 409)
        return Opened(principal, header, message)

    async def _remember(self, header: Header) -> None:
        try:
            async with self.engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    # A message id is a guard, not a record: waiting for its fsync would
                    # double a look-up's latency. A crash may forget the last instant's
                    # ids, and a replay of one of those would be answered again.
                    await conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
                await conn.execute(DciMessage.__table__.insert().values(
                    sender_id=header.sender_id, message_id=header.message_id,
                    action=header.action, received_at=datetime.now(UTC)))
        except IntegrityError:
            raise Rejection("rjct.message_id.duplicate", f"message {header.message_id} from "
                            f"{header.sender_id} was received already") from None

    def _rejected(self, header: Header | None, rejection: Rejection, status_code: int,
                  action: str = "on-search") -> Response:
        return JSONResponse({"header": reply_header(
            header, action, "rjct", sender_id=self.hub_id, code=rejection.code,
            message=rejection.message, total=header.total_count if header else 0)},
            status_code=status_code)

    async def _reply(self, header: dict[str, Any], message: dict[str, Any]) -> Response:
        """A synchronous answer, signed with the hub's key."""
        key = await self.keystore.current()
        signer = signatures.Signer(self.hub_id, key.kid, key.private)
        signature = signatures.sign(self.settings.dci.signature_scheme, signer, header,
                                    message, int(time.time()))
        return JSONResponse({"signature": signature, "header": header, "message": message})

    def _callback_url(self, header: Header, action: str) -> str | Response:
        if not header.sender_uri:
            return _err(header.message_id, "err.sender_uri.invalid", "an asynchronous "
                        "request needs header.sender_uri, where the answer is sent")
        if not self.senders.callback_allowed(header.sender_id, header.sender_uri):
            return _err(header.message_id, "err.sender_uri.invalid", f"sender_uri "
                        f"{header.sender_uri} is not a registered callback host of "
                        f"{header.sender_id}", 403)
        return outbox.callback_url(header.sender_uri, action)

    # -- search ------------------------------------------------------------------

    @faults_masked
    async def sync_search(self, request: Request) -> Response:
        opened = await self._envelope(request, REGISTRY_ROLES, "search")
        if isinstance(opened, Response):
            return opened
        principal, header, message = opened.principal, opened.header, opened.message
        try:
            items = searching.search_requests(header, message)
        except Rejection as rejection:
            return self._rejected(header, rejection, 400)
        event = searching.search_event(principal, "registry/sync/search")
        tolerant = self.senders.tolerates(header.sender_id, "two_letter_locale")
        responses = [await searching.answer(self.engine, raw, principal, event,
                                            self.settings.server.max_page_size,
                                            self.expressions, tolerant_locale=tolerant)
                     for raw in items]
        self.audit.record(event)  # a search for a NIK is processing, found or not
        return await self._reply(
            reply_header(header, "on-search", "succ", sender_id=self.hub_id,
                         total=len(items), completed=len(responses)),
            searching.search_response(str(message.get("transaction_id") or ""),
                                      header.message_id, responses))

    @faults_masked
    async def search(self, request: Request) -> Response:
        """Asynchronous search: ACK now, the answer to the sender's on-search."""
        opened = await self._envelope(request, REGISTRY_ROLES, "search")
        if isinstance(opened, Response):
            return opened
        header, message = opened.header, opened.message
        target = self._callback_url(header, "on-search")
        if isinstance(target, Response):
            return target
        try:
            items = searching.search_requests(header, message)
        except Rejection as rejection:
            return _err(header.message_id, "err.request.bad",
                        f"{rejection.code}: {rejection.message}")
        async with self.engine.begin() as conn:
            await open_transaction(conn, opened.principal, header, "search", message,
                                   searching.reference_ids(items), target)
        self.wake()
        return _ack(header.message_id)

    # -- transaction status --------------------------------------------------------

    @faults_masked
    async def sync_txn_status(self, request: Request) -> Response:
        opened = await self._envelope(request, REGISTRY_ROLES, "txn-status")
        if isinstance(opened, Response):
            return opened
        header = opened.header
        try:
            question = status.parse_question(opened.message)
        except Rejection as rejection:
            return self._rejected(header, rejection, 400, "txn-on-status")
        async with self.engine.connect() as conn:
            found = await status.find(conn, header.sender_id, question)
        return await self._reply(
            reply_header(header, "txn-on-status", "succ", sender_id=self.hub_id,
                         total=1, completed=1),
            status.status_response(question, header.message_id, found))

    @faults_masked
    async def txn_status(self, request: Request) -> Response:
        opened = await self._envelope(request, REGISTRY_ROLES, "txn-status")
        if isinstance(opened, Response):
            return opened
        header = opened.header
        target = self._callback_url(header, "txn-on-status")
        if isinstance(target, Response):
            return target
        try:
            question = status.parse_question(opened.message)
        except Rejection as rejection:
            return _err(header.message_id, "err.request.bad",
                        f"{rejection.code}: {rejection.message}")
        async with self.engine.begin() as conn:
            await open_transaction(conn, opened.principal, header, "txn-status",
                                   opened.message, [question.reference_id], target)
        self.wake()
        return _ack(header.message_id)

    # -- subscriptions -------------------------------------------------------------

    @faults_masked
    async def subscribe(self, request: Request) -> Response:
        """Subscriptions are made at once; the answer (codes, or each rejection) goes to
        the sender's on-subscribe, as the standard has it."""
        opened = await self._envelope(request, REGISTRY_ROLES, "subscribe")
        if isinstance(opened, Response):
            return opened
        header, message, principal = opened.header, opened.message, opened.principal
        target = self._callback_url(header, "on-subscribe")
        if isinstance(target, Response):
            return target
        items = message.get("subscribe_request") if isinstance(message, dict) else None
        if not isinstance(items, list) or not items or len(items) != header.total_count:
            return _err(header.message_id, "err.request.bad", "rjct.total_count.invalid: "
                        "message.subscribe_request is a non-empty list of "
                        "header.total_count items")
        now = datetime.now(UTC)
        answers = []
        async with self.engine.begin() as conn:
            head = (await conn.execute(select(func.max(RegistryEvent.id)))).scalar() or 0
            for raw in items:
                answers.append(await self._subscribe_one(conn, principal, header, message,
                                                         raw, target, head, now))
            response = {"transaction_id": str(message.get("transaction_id") or ""),
                        "correlation_id": header.message_id, "subscribe_response": answers}
            await open_transaction(conn, principal, header, "subscribe", message,
                                   searching.reference_ids(items), target, status_="succ",
                                   response=response)
            await outbox.enqueue(conn, header.sender_id, target, outbox.callback_header(
                self.hub_id, header.sender_id, "on-subscribe", total=len(items),
                completed=len(answers)), response, now)
        self.wake()
        return _ack(header.message_id)

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
        opened = await self._envelope(request, REGISTRY_ROLES, "unsubscribe")
        if isinstance(opened, Response):
            return opened
        header, message = opened.header, opened.message
        target = self._callback_url(header, "on-unsubscribe")
        if isinstance(target, Response):
            return target
        codes = message.get("subscription_codes") if isinstance(message, dict) else None
        if not isinstance(codes, list) or not codes or \
                not all(isinstance(c, str) and c for c in codes):
            return _err(header.message_id, "err.request.bad", "message.subscription_codes "
                        "is a non-empty list of subscription codes")
        now = datetime.now(UTC)
        ended: list[dict[str, str]] = []
        problem: Rejection | None = None
        async with self.engine.begin() as conn:
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
            await open_transaction(conn, opened.principal, header, "unsubscribe", message,
                                   [], target, status_="rjct" if problem else "succ",
                                   response=response)
            await outbox.enqueue(conn, header.sender_id, target, outbox.callback_header(
                self.hub_id, header.sender_id, "on-unsubscribe", total=len(codes),
                completed=len(ended)), response, now)
        self.wake()
        return _ack(header.message_id)

    # -- IBR ---------------------------------------------------------------------

    @faults_masked
    async def sync_enrolled(self, request: Request) -> Response:
        """IBR: is the person (NIK) or family (KK) enrolled in a programme: yes or no."""
        opened = await self._envelope(request, ENROLLED_ROLES, "search")
        if isinstance(opened, Response):
            return opened
        principal, header, message = opened.principal, opened.header, opened.message
        criteria = message.get("enrolled_criteria") if isinstance(message, dict) else None
        transaction = str(message.get("transaction_id", "")) if isinstance(message, dict) \
            else ""
        try:
            question = enrolled_question(criteria)
        except Rejection as rejection:
            return self._rejected(header, rejection, 400, action="on-search")
        event = AuditEvent(principal=principal, purpose=principal.purpose,
                           operation_type="dci", operation="registry/sync/enrolled",
                           root_fields=["enrolled"], fields=["enrolled_status"])
        enrolled = await registry.enrolled(self.engine, question, principal.scope, event)
        self.audit.record(event)
        answer = {"reference_id": transaction or header.message_id,
                  "timestamp": timestamp(datetime.now(UTC)), "status": "succ",
                  "enrolled_status": "yes" if enrolled else "no"}
        return await self._reply(
            reply_header(header, "on-search", "succ", sender_id=self.hub_id,
                         total=1, completed=1),
            {"transaction_id": transaction, "correlation_id": header.message_id,
             "enrolled_response": [answer]})

    @faults_masked
    async def enrollment_updates(self, request: Request) -> Response:
        """IBR: a programme pushes its enrolments; each beneficiary is staged (or
        quarantined with its reason) for the next reconciliation."""
        opened = await self._envelope(request, UPDATE_ROLES, "notify", callback=True)
        if isinstance(opened, Response):
            return opened
        header, message = opened.header, opened.message
        updates = message.get("enrolled_updates") if isinstance(message, dict) else None
        beneficiaries = updates.get("beneficiaries") if isinstance(updates, dict) else None
        if not isinstance(beneficiaries, list) or not beneficiaries:
            return self._rejected(header, Rejection(
                "rjct.action.invalid", "message.enrolled_updates.beneficiaries must be a "
                "non-empty list"), 400, "on-notify")
        if len(beneficiaries) > MAX_BENEFICIARIES:
            return self._rejected(header, Rejection(
                "rjct.total_count.limit_exceeded", f"at most {MAX_BENEFICIARIES} "
                "beneficiaries in one message"), 400, "on-notify")
        stream = ibr.EnrolmentUpdates(header.sender_id)
        now = timestamp(datetime.now(UTC))
        answers = []
        for position, raw in enumerate(beneficiaries):
            prepared = prepare(stream, raw)
            given = raw.get("reference_id") if isinstance(raw, dict) else None
            answer = {"reference_id": str(given or prepared.key or position)[:99],
                      "timestamp": now, "status": "rjct" if prepared.reason else "succ"}
            if prepared.reason:
                answer["status_reason_message"] = \
                    f"kept in quarantine: {prepared.reason}"[:999]
            answers.append(answer)
        async with self.engine.begin() as conn:
            counts = await stage_page(conn, stream, beneficiaries)
        logger.info("IBR updates from %s: %s", header.sender_id, counts.as_dict())
        audit = AuditEvent(principal=opened.principal, purpose=opened.principal.purpose,
                           operation_type="dci", operation="registry/sync/enrollment/updates",
                           root_fields=["enrollment_updates"], fields=["beneficiaries"])
        self.audit.record(audit)
        return await self._reply(
            reply_header(header, "on-notify", "succ", sender_id=self.hub_id,
                         total=len(beneficiaries),
                         completed=sum(a["status"] == "succ" for a in answers)),
            {"transaction_id": str(message.get("transaction_id") or ""),
             "correlation_id": header.message_id, "enrolled_response": answers})
