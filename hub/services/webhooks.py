"""Webhook delivery from the outbox: each new referral reaches its agency's webhook,
signed, retried with doubling backoff, idempotent by delivery id, and dead-lettered
after the last try, where it stays visible and can be retried.

The row is written in the transaction that refers the referral (`outbox`), so a
referral is never sent without existing, nor exists without being sent; a hub that was
down sends what is due when it comes back.
"""

from __future__ import annotations

import json
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

from hub.backoff import backoff
from hub.codecs import signing
from hub.config import HubSettings
from hub.db.models import WebhookDelivery

log = logging.getLogger(__name__)
BATCH = 100


def _now() -> datetime:
    return datetime.now(UTC)


async def outbox(conn: AsyncConnection, agency: str, event: str, referral_id: int | None,
                 payload: dict[str, Any], now: datetime) -> str:
    """Queue a message in the caller's transaction; returns its delivery id."""
    delivery = uuid.uuid4().hex
    await conn.execute(WebhookDelivery.__table__.insert().values(
        id=delivery, agency=agency, event=event, referral_id=referral_id,
        payload={**payload, "delivery_id": delivery, "event": event}, status="PENDING",
        attempts=0, next_attempt_at=now, created_at=now))
    return delivery


class WebhookDispatcher:
    def __init__(self, engine: AsyncEngine, settings: HubSettings,
                 clock: Callable[[], datetime] = _now,
                 rng: random.Random | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock
        self.rng = rng or random.Random()

    async def run_once(self) -> dict[str, int]:
        """Send every delivery that is due; returns what happened to them."""
        now = self.clock()
        async with self.engine.connect() as conn:
            due = (await conn.execute(select(WebhookDelivery.__table__).where(
                WebhookDelivery.status == "PENDING", WebhookDelivery.next_attempt_at <= now)
                .order_by(WebhookDelivery.next_attempt_at).limit(BATCH))).mappings().all()
        counts = {"delivered": 0, "retrying": 0, "dead": 0}
        if not due:
            return counts
        desk = self.settings.desk
        timeout = aiohttp.ClientTimeout(total=desk.webhook_timeout_seconds)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            for row in due:
                outcome = await self._send(session, row)
                counts[outcome] += 1
        return counts

    async def _send(self, session: aiohttp.ClientSession, row: Any) -> str:
        desk = self.settings.desk
        endpoint = desk.agencies.get(row["agency"])
        error: str | None = None
        if endpoint is None or endpoint.webhook_url is None:
            error = f"no webhook configured for agency {row['agency']!r}"
        else:
            body = json.dumps(row["payload"], ensure_ascii=False, sort_keys=True).encode()
            headers = {"Content-Type": "application/json", "X-SLRT-Delivery": row["id"],
                       "X-SLRT-Event": row["event"],
                       **signing.headers(endpoint.secret, int(time.time()), body)}
            try:
                async with session.post(endpoint.webhook_url, data=body,
                                        headers=headers) as response:
                    if 200 <= response.status < 300:
                        await self._mark(row["id"], status="DELIVERED",
                                         attempts=row["attempts"] + 1,
                                         delivered_at=self.clock(), last_error=None)
                        return "delivered"
                    error = f"HTTP {response.status}: {(await response.text())[:200]}"
            except (aiohttp.ClientError, TimeoutError, OSError) as failure:
                error = f"{type(failure).__name__}: {failure}"[:300]
        attempts = row["attempts"] + 1
        if attempts >= desk.webhook_attempts:
            log.error("webhook %s to %s dead-lettered after %d tries: %s", row["id"],
                      row["agency"], attempts, error)
            await self._mark(row["id"], status="DEAD", attempts=attempts, last_error=error)
            return "dead"
        wait = backoff(attempts, desk.webhook_backoff_seconds, desk.webhook_backoff_max_seconds,
                       self.rng, jitter="equal")
        await self._mark(row["id"], attempts=attempts, last_error=error,
                         next_attempt_at=self.clock() + timedelta(seconds=wait))
        return "retrying"

    async def _mark(self, delivery: str, **values: Any) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery)
                               .values(**values))


async def retry(engine: AsyncEngine, delivery: str, now: datetime | None = None) -> bool:
    """Put a dead-lettered delivery back in the queue, with its tries reset."""
    async with engine.begin() as conn:
        result = await conn.execute(update(WebhookDelivery).where(
            WebhookDelivery.id == delivery, WebhookDelivery.status == "DEAD").values(
            status="PENDING", attempts=0, next_attempt_at=now or _now()))
    return bool(result.rowcount)
