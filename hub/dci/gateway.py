"""The part every DCI endpoint shares: authentication and roles, the envelope read
strictly, the sender and its signature checked, a replayed message id refused,
per-client and per-sender rate limits; signed replies, acknowledgements and errors in
the standard's shapes, and faults of ours masked."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hub import jsontext
from hub.access import keys
from hub.access.audit import AuditWriter
from hub.access.authn import AuthenticationFailed, Authenticator
from hub.access.keystore import KeyStore
from hub.access.ratelimit import RateLimiter
from hub.access.roles import Principal, Role
from hub.config import HubSettings
from hub.crypto import signatures
from hub.db.guard import insert_once
from hub.db.models import DciMessage
from hub.db.outage import unavailable
from hub.dci import outbox, searching
from hub.dci.envelope import (
    Header,
    Rejection,
    check_message,
    json_content_type,
    parse_header,
    reply_header,
    timestamp,
)
from hub.dci.senders import SenderRefused, SenderRegistry
from hub.dci.transactions import open_transaction

logger = logging.getLogger("hub.dci")
REGISTRY_ROLES = frozenset({Role.NATIONAL, Role.DISTRICT})


def faults_masked(endpoint: Callable[[Any, Request], Awaitable[Response]]
                  ) -> Callable[[Any, Request], Awaitable[Response]]:
    """A fault of ours (the database away, a bug) is logged with its traceback and
    answered in the DCI error shape, never with a stack trace."""
    @functools.wraps(endpoint)
    async def wrapped(self: Any, request: Request) -> Response:
        try:
            return await endpoint(self, request)
        except Exception as fault:
            if unavailable(fault):
                logger.warning("DCI %s: the database is unreachable", request.url.path)
                return http_error(503, "err.service.unavailable", "the hub's database is "
                                  "unreachable right now; try again shortly",
                                  **{"Retry-After": "5"})
            logger.exception("DCI %s failed", request.url.path)
            return http_error(500, "err.service.unavailable", "the hub could not process "
                              "the message; it has been logged")

    return wrapped


def http_error(status_code: int, code: str, message: str, **headers: str) -> Response:
    """The DCI HttpErrorResponse shape."""
    return JSONResponse({"errors": [{"code": code, "message": message}]},
                        status_code=status_code, headers=headers or None)


@dataclass
class Opened:
    principal: Principal
    header: Header
    message: Any


def ack(correlation_id: str) -> Response:
    return JSONResponse({"message": {"ack_status": "ACK",
                                     "timestamp": timestamp(datetime.now(UTC)),
                                     "correlation_id": correlation_id}})


def err(correlation_id: str, code: str, message: str, status_code: int = 400) -> Response:
    """An asynchronous request that cannot be processed: `ERR` with the DCI error code
    (and the `rjct.*` reason, when there is one, leading the message)."""
    return JSONResponse({"message": {"ack_status": "ERR",
                                     "timestamp": timestamp(datetime.now(UTC)),
                                     "correlation_id": correlation_id,
                                     "error": {"code": code, "message": message[:999]}}},
                        status_code=status_code)


class DciGateway:
    """What every DCI endpoint does before and after its own work."""

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

    async def _principal(self, request: Request,
                         roles: frozenset[Role] = REGISTRY_ROLES) -> Principal | Response:
        token = keys.bearer_token(request.headers.get("authorization"))
        if token is None:
            return http_error(401, "err.request.unauthorized", "send Authorization: Bearer "
                              "<access token or API key>", **{"WWW-Authenticate": "Bearer"})
        try:
            principal = await self.authenticator.authenticate(token)
        except AuthenticationFailed as refused:
            return http_error(401, "err.request.unauthorized", refused.reason,
                              **{"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if principal.role not in roles:
            return http_error(403, "err.request.forbidden", f"a {principal.role.value} client may "
                              "not use this endpoint")
        per_minute = principal.rate_per_minute or self.settings.access.rate_per_minute
        wait = self.limiter.take(principal.client_id, per_minute)
        if wait is not None:
            return http_error(429, "err.request.too_many_requests", f"rate limit of {per_minute} "
                              "requests per minute exceeded",
                              **{"Retry-After": str(max(1, round(wait)))})
        return principal

    async def opened(self, request: Request, roles: frozenset[Role], action: str,
                       *, callback: bool = False) -> Opened | Response:
        """Authenticate, read and check the envelope and its signature, refuse a
        replayed message id."""
        principal = await self._principal(request, roles)
        if isinstance(principal, Response):
            return principal
        unsupported = json_content_type(request.headers.get("content-type"))
        if unsupported is not None:
            return http_error(415, "err.request.bad", unsupported)
        body = await request.body()
        if len(body) > self.settings.access.max_body_bytes:
            return http_error(413, "err.request.bad", "the message is too large")
        try:
            envelope = jsontext.loads(body)
        except (ValueError, UnicodeDecodeError):
            return http_error(400, "err.request.bad", "the body is not JSON")
        if not isinstance(envelope, dict):
            return http_error(400, "err.request.bad", "the body is a JSON object with "
                              "header and message")
        raw_header = envelope.get("header")
        sender = raw_header.get("sender_id") if isinstance(raw_header, dict) else None
        try:
            header = parse_header(raw_header, action, callback=callback,
                                  tolerate_string_count=self.senders.tolerates(
                                      sender, "string_total_count"))
        except Rejection as rejection:
            return self.rejected(None, rejection, 400)
        message = envelope.get("message")
        try:
            check_message(message)
        except Rejection as rejection:
            return self.rejected(header, rejection, 400)
        try:
            await self.senders.admit(principal, header, raw_header, message,
                                     envelope.get("signature"))
        except SenderRefused as refused:
            return http_error(refused.status, refused.code, refused.message)
        entry = self.senders.entry(header.sender_id)
        if entry is not None and entry.rate_per_minute:
            wait = self.limiter.take(f"sender:{header.sender_id}", entry.rate_per_minute)
            if wait is not None:
                return http_error(429, "err.request.too_many_requests", f"sender "
                                  f"{header.sender_id} is limited to {entry.rate_per_minute}"
                                  " messages per minute",
                                  **{"Retry-After": str(max(1, round(wait)))})
        try:
            await self._remember(header)
        except Rejection as rejection:
            return self.rejected(header, rejection, 409)
        return Opened(principal, header, message)

    async def _remember(self, header: Header) -> None:
        """A message id is a guard, not a record (see `insert_once`)."""
        kept = await insert_once(self.engine, DciMessage.__table__, {
            "sender_id": header.sender_id, "message_id": header.message_id,
            "action": header.action, "received_at": datetime.now(UTC)})
        if not kept:
            raise Rejection("rjct.message_id.duplicate", f"message {header.message_id} from "
                            f"{header.sender_id} was received already")

    def rejected(self, header: Header | None, rejection: Rejection, status_code: int,
                 action: str = "on-search") -> Response:
        return JSONResponse({"header": reply_header(
            header, action, "rjct", sender_id=self.hub_id, code=rejection.code,
            message=rejection.message, total=header.total_count if header else 0)},
            status_code=status_code)

    async def reply(self, header: dict[str, Any], message: dict[str, Any]) -> Response:
        """A synchronous answer, signed with the hub's key."""
        key = await self.keystore.current()
        signer = signatures.Signer(self.hub_id, key.kid, key.private)
        signature = signatures.sign(self.settings.dci.signature_scheme, signer, header,
                                    message, int(time.time()))
        # orjson: the same compact UTF-8 JSON as JSONResponse, a fifth of its CPU on
        # a look-up's answer
        return Response(orjson.dumps({"signature": signature, "header": header,
                                      "message": message}), media_type="application/json")

    async def opened_async(self, request: Request, roles: frozenset[Role], action: str,
                           callback: str) -> tuple[Opened, str] | Response:
        """An asynchronous request's envelope, and where its answer (`callback`) goes."""
        opened = await self.opened(request, roles, action)
        if isinstance(opened, Response):
            return opened
        target = self.callback_target(opened.header, callback)
        if isinstance(target, Response):
            return target
        return opened, target

    async def keep_answer(self, conn: AsyncConnection, opened: Opened, target: str,
                          action: str, references: list[str], response: dict[str, Any], *,
                          status: str, callback: str, total: int, completed: int) -> None:
        """A request answered while it is received (subscribe, unsubscribe), in the
        caller's transaction: kept for txn/status, its answer queued for the callback."""
        header = opened.header
        await open_transaction(conn, opened.principal, header, action, opened.message,
                               references, target, status_=status, response=response)
        await outbox.enqueue(conn, header.sender_id, target, outbox.callback_header(
            self.hub_id, header.sender_id, callback, total=total, completed=completed),
            response)

    def callback_target(self, header: Header, action: str) -> str | Response:
        if not header.sender_uri:
            return err(header.message_id, "err.sender_uri.invalid", "an asynchronous "
                       "request needs header.sender_uri, where the answer is sent")
        if not self.senders.callback_allowed(header.sender_id, header.sender_uri):
            return err(header.message_id, "err.sender_uri.invalid", f"sender_uri "
                       f"{header.sender_uri} is not a registered callback host of "
                       f"{header.sender_id}", 403)
        return outbox.callback_url(header.sender_uri, action)
