"""The hub as a DCI client: the callback endpoints other registries answer to
(`/dci/registry/on-search`, `on-subscribe`, `on-unsubscribe`, `txn/on-status`,
`notify`).

A callback is accepted only from a registered sender and only signed (there is no
bearer token between registries that did not ask each other for one: the signature is
the authentication). Each is kept once in `dci_inbox`; a repeat (the registry missed
our acknowledgement) is acknowledged again and not processed twice. Households in a
notification are staged as the records of the connector that reads that registry
(`[dci.senders.<id>] connector = …`), to be applied by the next reconciliation.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hub import jsontext
from hub.config import HubSettings
from hub.connectors.dci import DciConnector
from hub.connectors.registry import build_connector
from hub.connectors.staging import stage_page
from hub.db.models import DciInbox
from hub.dci.envelope import Rejection, json_content_type, parse_header, timestamp
from hub.dci.senders import SenderRefused, SenderRegistry

log = logging.getLogger("hub.dci")
ACTIONS = {"on-search": "on-search", "on-subscribe": "on-subscribe",
           "on-unsubscribe": "on-unsubscribe", "txn/on-status": "txn-on-status",
           "notify": "notify"}


def _answer(ack: str, correlation: str, code: str | None = None, message: str = "",
            status_code: int = 200) -> Response:
    body: dict[str, Any] = {"ack_status": ack, "timestamp": timestamp(datetime.now(UTC)),
                            "correlation_id": correlation}
    if code:
        body["error"] = {"code": code, "message": message[:999]}
    return JSONResponse({"message": body}, status_code=status_code)


class DciInboxEndpoints:
    def __init__(self, engine: AsyncEngine, settings: HubSettings,
                 senders: SenderRegistry) -> None:
        self.engine = engine
        self.settings = settings
        self.senders = senders

    async def receive(self, request: Request) -> Response:
        try:
            return await self._receive(request)
        except Exception:  # ours, not the sender's: it will retry
            log.exception("DCI callback %s failed", request.url.path)
            return _answer("ERR", "", "err.service.unavailable", "the hub could not take "
                           "the message now; it has been logged", 500)

    async def _receive(self, request: Request) -> Response:
        path = request.path_params["callback"]
        if path not in ACTIONS:
            return _answer("ERR", "", "err.request.not_found", f"no callback {path}", 404)
        unsupported = json_content_type(request.headers.get("content-type"))
        if unsupported is not None:
            return _answer("ERR", "", "err.request.bad", unsupported, 415)
        body = await request.body()
        if len(body) > self.settings.access.max_body_bytes:
            return _answer("ERR", "", "err.request.bad", "the message is too large", 413)
        try:
            envelope = jsontext.loads(body)
            raw_header = envelope["header"]
            header = parse_header(raw_header, ACTIONS[path], callback=True)
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            return _answer("ERR", "", "err.request.bad", "the body is a DCI message: "
                           "{signature, header, message}", 400)
        except Rejection as rejection:
            return _answer("ERR", "", "err.request.bad",
                           f"{rejection.code}: {rejection.message}", 400)
        message = envelope.get("message")
        if not isinstance(message, dict):
            # Every callback answers something: without its message there is nothing
            # to take, and an ACK would tell the sender it was taken.
            return _answer("ERR", header.message_id, "err.request.bad",
                           f"a {header.action} callback carries a message object", 400)
        entry = self.senders.entry(header.sender_id)
        if entry is None:
            return _answer("ERR", header.message_id, "err.sender_id.invalid",
                           f"{header.sender_id} is not a registered registry", 403)
        forced = entry.model_copy(update={"require_signature": True})
        try:
            await self.senders.verify(header, raw_header, message, envelope.get("signature"),
                                      forced)
        except SenderRefused as refused:
            return _answer("ERR", header.message_id, refused.code, refused.message, 401)
        try:
            async with self.engine.begin() as conn:
                await conn.execute(DciInbox.__table__.insert().values(
                    sender_id=header.sender_id, message_id=header.message_id,
                    action=header.action, header=raw_header,
                    message=message if isinstance(message, dict) else None,
                    received_at=datetime.now(UTC)))
                if header.action == "notify" and isinstance(message, dict):
                    staged = await self._stage(conn, entry.connector, message)
                    log.info("DCI notify from %s: %d households staged", header.sender_id,
                             staged)
        except IntegrityError:
            pass  # delivered before; our acknowledgement was lost on the way
        return _answer("ACK", header.message_id)

    async def _stage(self, conn: Any, connector_name: str | None,
                     message: dict[str, Any]) -> int:
        settings = self.settings.connectors.get(connector_name or "")
        if settings is None:
            return 0
        connector = build_connector(connector_name or "", settings)
        assert isinstance(connector, DciConnector)
        groups = [event["data"]["reg_records"] for event in message.get("notify_event", [])
                  if isinstance(event, dict) and isinstance(event.get("data"), dict)
                  and event["data"].get("reg_record_type") == "Group"
                  and isinstance(event["data"].get("reg_records"), dict)]
        for stream in connector.streams:
            assert hasattr(stream, "records")
            await stage_page(conn, stream, stream.records(groups))
        return len(groups)
