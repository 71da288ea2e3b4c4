"""The DCI social registry endpoints under /dci (so far the synchronous search),
authenticated like the GraphQL API, limited to the clients whose role reads the
registry, inside their regions, idempotent on message ids, and audited."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hub.access import keys
from hub.access.audit import AuditEvent, AuditWriter
from hub.access.authn import AuthenticationFailed, Authenticator
from hub.access.ratelimit import RateLimiter
from hub.access.roles import Principal, Role
from hub.config import HubSettings
from hub.db.models import DciMessage
from hub.dci import registry
from hub.dci.envelope import Header, Rejection, parse_header, reply_header, timestamp
from hub.dci.query import enrolled_question, parse_item

logger = logging.getLogger("hub.dci")
REGISTRY_ROLES = frozenset({Role.NATIONAL, Role.DISTRICT})
# "Is this person enrolled in programme X" answers yes or no and nothing else: what an
# agency or a partner needs so that help is not given twice.
ENROLLED_ROLES = REGISTRY_ROLES | {Role.AGENCY, Role.PARTNER}
MAX_ITEMS = 100  # search requests in one message
REG_TYPE = "ns:org:RegistryType:Social"


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


def _http_error(status: int, code: str, message: str, **headers: str) -> Response:
    """The DCI HttpErrorResponse shape."""
    return JSONResponse({"errors": [{"code": code, "message": message}]}, status_code=status,
                        headers=headers or None)


class DciEndpoints:
    def __init__(self, engine: AsyncEngine, settings: HubSettings,
                 authenticator: Authenticator, limiter: RateLimiter,
                 audit: AuditWriter) -> None:
        self.engine = engine
        self.settings = settings
        self.authenticator = authenticator
        self.limiter = limiter
        self.audit = audit
        self.hub_id = settings.access.token_issuer

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

    async def _envelope(self, request: Request, roles: frozenset[Role]
                        ) -> tuple[Principal, Header, Any] | Response:
        """Authenticate, read and check the envelope, refuse a replayed message id."""
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
        try:
            header = parse_header(envelope.get("header"), "search")
        except Rejection as rejection:
            return self._rejected(None, rejection, 400)
        try:
            await self._remember(header)
        except Rejection as rejection:
            return self._rejected(header, rejection, 409)
        return principal, header, envelope.get("message")

    @faults_masked
    async def sync_search(self, request: Request) -> Response:
        opened = await self._envelope(request, REGISTRY_ROLES)
        if isinstance(opened, Response):
            return opened
        principal, header, message = opened
        requests = message.get("search_request") if isinstance(message, dict) else None
        if not isinstance(requests, list) or not requests:
            return self._rejected(header, Rejection(
                "rjct.action.invalid", "message.search_request must be a non-empty list"), 400)
        if len(requests) > MAX_ITEMS:
            return self._rejected(header, Rejection(
                "rjct.total_count.limit_exceeded", f"at most {MAX_ITEMS} search requests "
                "in one message"), 400)
        if header.total_count != len(requests):
            return self._rejected(header, Rejection(
                "rjct.total_count.invalid", f"header.total_count is {header.total_count} but "
                f"the message holds {len(requests)} search requests"), 400)
        event = AuditEvent(principal=principal, purpose=principal.purpose,
                           operation_type="dci", operation="registry/sync/search",
                           root_fields=["search"], fields=["Group", "Member"])
        responses = [await self._answer(raw, principal, event) for raw in requests]
        transaction = message.get("transaction_id") if isinstance(message, dict) else None
        self.audit.record(event)  # a search for a NIK is processing, found or not
        return JSONResponse({
            "header": reply_header(header, "on-search", "succ", sender_id=self.hub_id,
                                   total=len(requests), completed=len(responses)),
            "message": {"transaction_id": str(transaction or ""),
                        "correlation_id": header.message_id, "search_response": responses},
        })

    @faults_masked
    async def sync_enrolled(self, request: Request) -> Response:
        """IBR: is the person (NIK) or family (KK) enrolled in a programme: yes or no."""
        opened = await self._envelope(request, ENROLLED_ROLES)
        if isinstance(opened, Response):
            return opened
        principal, header, message = opened
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
        return JSONResponse({
            "header": reply_header(header, "on-search", "succ", sender_id=self.hub_id,
                                   total=1, completed=1),
            "message": {"transaction_id": transaction, "correlation_id": header.message_id,
                        "enrolled_response": [answer]},
        })

    async def _answer(self, raw: Any, principal: Principal, event: AuditEvent
                      ) -> dict[str, Any]:
        reference = raw.get("reference_id") if isinstance(raw, dict) else None
        answer: dict[str, Any] = {"reference_id": str(reference or ""),
                                  "timestamp": timestamp(datetime.now(UTC))}
        try:
            item = parse_item(raw, self.settings.server.max_page_size)
        except Rejection as rejection:
            return {**answer, "status": "rjct", "status_reason_code": rejection.code,
                    "status_reason_message": rejection.message[:999]}
        found = await registry.search(self.engine, item, principal.scope, date.today())
        for kind, subject, identifier in found.subjects:
            event.note(kind, subject, identifier)
        answer |= {"status": "succ", "data": {
            "version": "1.0.0", "reg_type": REG_TYPE, "reg_record_type": item.entity,
            "reg_records": found.records},
            "pagination": {"page_size": item.page_size, "page_number": item.page_number,
                           "total_count": found.total}}
        if item.locale:
            answer["locale"] = item.locale
        return answer

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

    def _rejected(self, header: Header | None, rejection: Rejection, status: int,
                  action: str = "on-search") -> Response:
        return JSONResponse({"header": reply_header(
            header, action, "rjct", sender_id=self.hub_id, code=rejection.code,
            message=rejection.message, total=header.total_count if header else 0)},
            status_code=status)
