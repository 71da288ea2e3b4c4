"""The DCI background work of a replica: pending asynchronous requests, due
subscription notifications and outbox deliveries, every `[dci].poll_seconds` or at
once when an endpoint has queued something. Every step claims its rows, so replicas
can all run it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.access.audit import AuditWriter
from hub.access.clients import ClientStore
from hub.access.keystore import KeyStore
from hub.config import HubSettings
from hub.db.models import DciCallback, DciInbox, DciTransaction
from hub.dci.notifier import Notifier
from hub.dci.outbox import CallbackDispatcher
from hub.dci.searching import Expressions
from hub.dci.transactions import TransactionWorker

log = logging.getLogger("hub.dci")
PURGE_EVERY_SECONDS = 600.0


async def purge(engine: AsyncEngine, before: datetime) -> int:
    """Delete the answers, delivered (or dead) callbacks and received callbacks older
    than `before`: they hold personal data and have served their purpose."""
    async with engine.begin() as conn:
        gone = (await conn.execute(delete(DciTransaction).where(
            DciTransaction.created_at < before, DciTransaction.status != "pdng"))).rowcount
        gone += (await conn.execute(delete(DciCallback).where(
            DciCallback.created_at < before, DciCallback.status != "PENDING"))).rowcount
        gone += (await conn.execute(delete(DciInbox).where(
            DciInbox.received_at < before))).rowcount
    return gone


class DciWorker:
    def __init__(self, engine: AsyncEngine, settings: HubSettings, clients: ClientStore,
                 keystore: KeyStore, audit: AuditWriter, expressions: Expressions) -> None:
        hub_id = settings.access.token_issuer
        self.settings = settings
        self.transactions = TransactionWorker(engine, settings, clients, audit, hub_id,
                                              expressions)
        self.notifier = Notifier(engine, clients, audit, hub_id)
        self.dispatcher = CallbackDispatcher(engine, settings.dci, keystore, hub_id)
        self.engine = engine
        self._purged_at = -PURGE_EVERY_SECONDS
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    async def run_once(self) -> dict[str, int]:
        """One pass: answer, notify, deliver (in that order, so an answer goes out in
        the same pass that made it), and forget what is past its retention."""
        processed = await self.transactions.run_once()
        notified = await self.notifier.run_once()
        sent = await self.dispatcher.run_once()
        now = time.monotonic()
        purged = 0
        if now - self._purged_at > PURGE_EVERY_SECONDS:
            self._purged_at = now
            purged = await purge(self.engine, datetime.now(UTC) - timedelta(
                hours=self.settings.dci.retention_hours))
        return {"processed": processed, "notified": notified, **sent, "purged": purged}

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="dci-worker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # the database away: try again next time
                log.exception("DCI worker pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.dci.poll_seconds)
            self._wake.clear()
