"""The DCI outbox: callbacks (on-search, txn/on-status, on-subscribe, on-unsubscribe)
and notifications, written in the transaction that produced them, delivered signed to
the sender's registered hosts, retried with doubling backoff, dead-lettered after the
last try. A message keeps its message id across retries, so the receiver can drop a
repeat."""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub import jsontext
from hub.access.keystore import KeyStore
from hub.backoff import backoff
from hub.config import DciSettings
from hub.crypto import signatures
from hub.db.models import DciCallback
from hub.dci.envelope import VERSION, header_code, timestamp
from hub.dci.senders import host_of

log = logging.getLogger("hub.dci")
BATCH = 100
# The path each callback goes to, under the sender's base URI.
PATHS = {"on-search": "on-search", "txn-on-status": "txn/on-status",
         "on-subscribe": "on-subscribe", "on-unsubscribe": "on-unsubscribe",
         "notify": "notify"}


def _now() -> datetime:
    return datetime.now(UTC)


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
        "version": VERSION, "message_id": uuid.uuid4().hex, "message_ts": timestamp(_now()),
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
    now = now or _now()
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


class CallbackDispatcher:
    def __init__(self, engine: AsyncEngine, settings: DciSettings, keystore: KeyStore,
                 hub_id: str, clock: Callable[[], datetime] = _now,
                 rng: random.Random | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.keystore = keystore
        self.hub_id = hub_id
        self.clock = clock
        self.rng = rng or random.Random()

    async def run_once(self) -> dict[str, int]:
        """Send every callback that is due; returns what happened to them."""
        now = self.clock()
        async with self.engine.connect() as conn:
            due = (await conn.execute(select(DciCallback.__table__).where(
                DciCallback.status == "PENDING", DciCallback.next_attempt_at <= now)
                .order_by(DciCallback.next_attempt_at).limit(BATCH))).mappings().all()
        counts = {"delivered": 0, "retrying": 0, "dead": 0}
        if not due:
            return counts
        timeout = aiohttp.ClientTimeout(total=self.settings.callback_timeout_seconds)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            for row in due:
                if await self._claim(row, now):
                    counts[await self._send(session, row)] += 1
        return counts

    async def _claim(self, row: Any, now: datetime) -> bool:
        """Take the delivery for this replica: another one seeing it due at the same
        moment finds it moved on."""
        hold = now + timedelta(seconds=self.settings.callback_timeout_seconds * 2)
        async with self.engine.begin() as conn:
            moved = await conn.execute(update(DciCallback).where(
                DciCallback.id == row["id"], DciCallback.status == "PENDING",
                DciCallback.next_attempt_at == row["next_attempt_at"]).values(
                next_attempt_at=hold))
        return moved.rowcount == 1

    async def _send(self, session: aiohttp.ClientSession, row: Any) -> str:
        entry = self.settings.senders.get(row["sender_id"])
        error: str | None = None
        if entry is None or host_of(row["url"]) not in entry.callback_hosts:
            error = f"{row['url']} is not a registered callback host of {row['sender_id']}"
        else:
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
            try:
                async with session.post(row["url"], json=body, headers=headers) as response:
                    answer = await response.text()
                    if response.status >= 300:
                        error = f"HTTP {response.status}: {answer[:200]}"
                    elif _acknowledgement(answer) == "ERR":
                        error = f"the receiver answered ERR: {answer[:200]}"
            except (aiohttp.ClientError, TimeoutError) as failed:
                error = f"{type(failed).__name__}: {failed}"[:500]
        return await self._settle(row, error)

    async def _settle(self, row: Any, error: str | None) -> str:
        now = self.clock()
        attempts = row["attempts"] + 1
        if error is None:
            values: dict[str, Any] = {"status": "DELIVERED", "delivered_at": now,
                                      "attempts": attempts, "last_error": None}
            outcome = "delivered"
        elif attempts >= self.settings.callback_attempts:
            values = {"status": "DEAD", "attempts": attempts, "last_error": error}
            outcome = "dead"
            log.error("DCI %s to %s dead after %d tries: %s", row["action"], row["url"],
                      attempts, error)
        else:
            wait = backoff(attempts, self.settings.callback_backoff_seconds,
                           self.settings.callback_backoff_max_seconds, self.rng, jitter="equal")
            values = {"attempts": attempts, "last_error": error,
                      "next_attempt_at": now + timedelta(seconds=wait)}
            outcome = "retrying"
        async with self.engine.begin() as conn:
            await conn.execute(update(DciCallback).where(DciCallback.id == row["id"])
                               .values(**values))
        return outcome
