"""The DCI outbox: callbacks (on-search, txn/on-status, on-subscribe, on-unsubscribe)
and notifications, written in the transaction that produced them, delivered signed to
the sender's registered hosts, retried with doubling backoff, dead-lettered after the
last try. A message keeps its message id across retries, so the receiver can drop a
repeat."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import aiohttp
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub import jsontext
from hub.access.keystore import KeyStore
from hub.config import DciSettings
from hub.crypto import signatures
from hub.db.models import DciCallback
from hub.dci.envelope import VERSION, header_code, timestamp
from hub.dci.senders import host_of
from hub.services.outbox import OutboxDispatcher, RetryPolicy, utc_now

# The path each callback goes to, under the sender's base URI.
PATHS = {"on-search": "on-search", "txn-on-status": "txn/on-status",
         "on-subscribe": "on-subscribe", "on-unsubscribe": "on-unsubscribe",
         "notify": "notify"}


def callback_url(sender_uri: str, action: str) -> str:
    """Where a callback goes. `sender_uri` may be the sender's registry base
    (`https://spmis.example/dci/registry`) or one of its callback endpoints
    (`…/registry/on-search`, as the spec's example has it): either way each kind of
    callback reaches its own endpoint beside it."""
    base = sender_uri.rstrip("/")
    for path in sorted(PATHS.values(), key=len, reverse=True):
        if base.endswith("/" + path):
            base = base[: -len(path) - 1]
            break
    return f"{base}/{PATHS[action]}"


def callback_header(hub_id: str, receiver: str, action: str, *, total: int = 0,
                    completed: int = 0, status: str = "succ", code: str | None = None,
                    message: str | None = None) -> dict[str, Any]:
    header: dict[str, Any] = {
        "version": VERSION, "message_id": uuid.uuid4().hex, "message_ts": timestamp(utc_now()),
        "action": action, "status": status, "total_count": total,
        "completed_count": completed, "sender_id": hub_id, "receiver_id": receiver,
        "is_msg_encrypted": False}
    if code:
        code, original = header_code(code)
        header["status_reason_code"] = code
        if original is not None:
            message = f"{original}: {message or ''}"
    if message:
        header["status_reason_message"] = message[:999]
    return header


async def enqueue(conn: AsyncConnection, sender_id: str, url: str, header: dict[str, Any],
                  message: dict[str, Any], now: datetime | None = None) -> str:
    """Queue a callback in the caller's transaction; returns its id."""
    now = now or utc_now()
    delivery = uuid.uuid4().hex
    await conn.execute(DciCallback.__table__.insert().values(
        id=delivery, sender_id=sender_id, url=url, action=header["action"], header=header,
        message=message, status="PENDING", attempts=0, next_attempt_at=now, created_at=now))
    return delivery


def _acknowledgement(answer: str) -> str | None:
    """The ack_status of a DCI acknowledgement (ACK, NACK, ERR), if the answer is one."""
    try:
        parsed = jsontext.loads(answer)
    except ValueError:
        return None
    message = parsed.get("message") if isinstance(parsed, dict) else None
    return message.get("ack_status") if isinstance(message, dict) else None


class CallbackDispatcher(OutboxDispatcher):
    model = DciCallback

    def __init__(self, engine: AsyncEngine, settings: DciSettings, keystore: KeyStore,
                 hub_id: str, clock: Callable[[], datetime] = utc_now,
                 rng: random.Random | None = None) -> None:
        super().__init__(engine, RetryPolicy(
            attempts=settings.callback_attempts,
            backoff_seconds=settings.callback_backoff_seconds,
            backoff_max_seconds=settings.callback_backoff_max_seconds,
            timeout_seconds=settings.callback_timeout_seconds), clock, rng)
        self.settings = settings
        self.keystore = keystore
        self.hub_id = hub_id

    def describe(self, row: Any) -> str:
        return f"DCI {row['action']} to {row['url']}"

    async def deliver(self, session: aiohttp.ClientSession, row: Any) -> str | None:
        entry = self.settings.senders.get(row["sender_id"])
        if entry is None or host_of(row["url"]) not in entry.callback_hosts:
            return f"{row['url']} is not a registered callback host of {row['sender_id']}"
        key = await self.keystore.current()
        signer = signatures.Signer(self.hub_id, key.kid, key.private)
        message = row["message"] or None  # a rejection is its header alone
        body = {"signature": signatures.sign(
            self.settings.signature_scheme, signer, row["header"], message,
            int(time.time())), "header": row["header"]}
        if message is not None:
            body["message"] = message
        headers = {"Authorization": f"Bearer {entry.callback_token}"} \
            if entry.callback_token else {}
        async with session.post(row["url"], json=body, headers=headers) as response:
            answer = await response.text()
            if response.status >= 300:
                return f"HTTP {response.status}: {answer[:200]}"
            if _acknowledgement(answer) == "ERR":
                return f"the receiver answered ERR: {answer[:200]}"
        return None
