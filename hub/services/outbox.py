"""One dispatcher for every outbox (webhooks to agencies, DCI callbacks to registries):
find what is due, claim it, send it, settle it.

Each message was written in the transaction that produced it (`hub.db.models.base.Outbox`
holds the delivery columns); what differs between outboxes is only how one message is
sent. Keeping the rest in one place means one claim (two replicas never send the same
row at once), one retry policy (doubling backoff with equal jitter, so receivers that
failed together are not retried together) and one dead letter, whatever the channel.
"""

from __future__ import annotations

import logging
import random
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.backoff import backoff

log = logging.getLogger("hub.outbox")
BATCH = 100


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int
    backoff_seconds: float
    backoff_max_seconds: float
    timeout_seconds: float


class OutboxDispatcher(ABC):
    """Delivers the due rows of one outbox table. Subclasses say how one row is sent."""

    model: Any  # the mapped class, an `Outbox`

    def __init__(self, engine: AsyncEngine, policy: RetryPolicy,
                 clock: Callable[[], datetime] = utc_now,
                 rng: random.Random | None = None) -> None:
        self.engine = engine
        self.policy = policy
        self.clock = clock
        self.rng = rng or random.Random()

    @abstractmethod
    async def deliver(self, session: aiohttp.ClientSession, row: Any) -> str | None:
        """Send one message; None when the receiver took it, else why not."""

    def describe(self, row: Any) -> str:
        """The message in a log line (a dead letter names what was not delivered)."""
        return str(row["id"])

    async def run_once(self) -> dict[str, int]:
        """Send every message that is due; returns what happened to them."""
        now = self.clock()
        table = self.model.__table__
        async with self.engine.connect() as conn:
            due = (await conn.execute(select(table).where(
                table.c.status == "PENDING", table.c.next_attempt_at <= now)
                .order_by(table.c.next_attempt_at).limit(BATCH))).mappings().all()
        counts = {"delivered": 0, "retrying": 0, "dead": 0}
        if not due:
            return counts
        timeout = aiohttp.ClientTimeout(total=self.policy.timeout_seconds)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            for row in due:
                if not await self._claim(row, now):
                    continue
                try:
                    error = await self.deliver(session, row)
                except (aiohttp.ClientError, TimeoutError, OSError) as failed:
                    error = f"{type(failed).__name__}: {failed}"[:500]
                counts[await self._settle(row, error)] += 1
        return counts

    async def _claim(self, row: Any, now: datetime) -> bool:
        """Take the message for this process: another replica that saw it due at the
        same moment finds it moved on and leaves it. Should this process die while
        sending, the message is due again once the hold has passed."""
        hold = now + timedelta(seconds=self.policy.timeout_seconds * 2)
        table = self.model.__table__
        async with self.engine.begin() as conn:
            moved = await conn.execute(update(table).where(
                table.c.id == row["id"], table.c.status == "PENDING",
                table.c.next_attempt_at == row["next_attempt_at"]).values(
                next_attempt_at=hold))
        return moved.rowcount == 1

    async def _settle(self, row: Any, error: str | None) -> str:
        now = self.clock()
        attempts = row["attempts"] + 1
        if error is None:
            values: dict[str, Any] = {"status": "DELIVERED", "delivered_at": now,
                                      "attempts": attempts, "last_error": None}
            outcome = "delivered"
        elif attempts >= self.policy.attempts:
            values = {"status": "DEAD", "attempts": attempts, "last_error": error}
            outcome = "dead"
            log.error("%s dead-lettered after %d tries: %s", self.describe(row), attempts,
                      error)
        else:
            wait = backoff(attempts, self.policy.backoff_seconds,
                           self.policy.backoff_max_seconds, self.rng, jitter="equal")
            values = {"attempts": attempts, "last_error": error,
                      "next_attempt_at": now + timedelta(seconds=wait)}
            outcome = "retrying"
        table = self.model.__table__
        async with self.engine.begin() as conn:
            await conn.execute(update(table).where(table.c.id == row["id"]).values(**values))
        return outcome


async def retry_dead(engine: AsyncEngine, model: Any, delivery: str,
                     now: datetime | None = None) -> bool:
    """Put a dead-lettered message back in the queue, with its tries reset."""
    table = model.__table__
    async with engine.begin() as conn:
        result = await conn.execute(update(table).where(
            table.c.id == delivery, table.c.status == "DEAD").values(
            status="PENDING", attempts=0, next_attempt_at=now or utc_now()))
    return bool(result.rowcount)
