"""Webhook delivery from the outbox: each new referral reaches its agency's webhook,
signed, retried with doubling backoff, idempotent by delivery id, and dead-lettered
after the last try, where it stays visible and can be retried.

The row is written in the transaction that refers the referral (`outbox`), so a
referral is never sent without existing, nor exists without being sent; a hub that was
down sends what is due when it comes back.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import aiohttp
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.codecs import signing
from hub.config import HubSettings
from hub.db.models import WebhookDelivery
from hub.services.outbox import OutboxDispatcher, RetryPolicy, retry_dead, utc_now


async def outbox(conn: AsyncConnection, agency: str, event: str, referral_id: int | None,
                 payload: dict[str, Any], now: datetime) -> str:
    """Queue a message in the caller's transaction; returns its delivery id."""
    delivery = uuid.uuid4().hex
    await conn.execute(WebhookDelivery.__table__.insert().values(
        id=delivery, agency=agency, event=event, referral_id=referral_id,
        payload={**payload, "delivery_id": delivery, "event": event}, status="PENDING",
        attempts=0, next_attempt_at=now, created_at=now))
    return delivery


class WebhookDispatcher(OutboxDispatcher):
    model = WebhookDelivery

    def __init__(self, engine: AsyncEngine, settings: HubSettings,
                 clock: Callable[[], datetime] = utc_now,
                 rng: random.Random | None = None) -> None:
        desk = settings.desk
        super().__init__(engine, RetryPolicy(
            attempts=desk.webhook_attempts, backoff_seconds=desk.webhook_backoff_seconds,
            backoff_max_seconds=desk.webhook_backoff_max_seconds,
            timeout_seconds=desk.webhook_timeout_seconds), clock, rng)
        self.settings = settings

    def describe(self, row: Any) -> str:
        return f"webhook {row['id']} ({row['event']}) to {row['agency']}"

    async def deliver(self, session: aiohttp.ClientSession, row: Any) -> str | None:
        endpoint = self.settings.desk.agencies.get(row["agency"])
        if endpoint is None or endpoint.webhook_url is None:
            return f"no webhook configured for agency {row['agency']!r}"
        body = json.dumps(row["payload"], ensure_ascii=False, sort_keys=True).encode()
        headers = {"Content-Type": "application/json", "X-SLRT-Delivery": row["id"],
                   "X-SLRT-Event": row["event"],
                   **signing.headers(endpoint.secret, int(time.time()), body)}
        async with session.post(endpoint.webhook_url, data=body, headers=headers) as response:
            if 200 <= response.status < 300:
                return None
            return f"HTTP {response.status}: {(await response.text())[:200]}"


async def retry(engine: AsyncEngine, delivery: str, now: datetime | None = None) -> bool:
    """Put a dead-lettered delivery back in the queue, with its tries reset."""
    return await retry_dead(engine, WebhookDelivery, delivery, now)
