"""The scheduler: runs each connector on its schedule, reconciliation after it, the
syncs queued through `triggerSync`, and whatever periodic jobs the edge hands it (the
desk's webhook delivery and SLA watcher, wired in `hub.app.scheduler_for`: the sync
layer knows nothing of the desk).

Every hub replica runs one; only the replica holding the `scheduler` lease (the leader)
runs jobs, the others keep trying to take the lease and take over within
`lease_seconds` when the leader dies. Each job also takes its own lease, so a job
started by hand (`slrt-hub sync`) and a scheduled one never run at once. Misfires
coalesce (one catch-up run, not one per missed slot); a failed run is recorded with
its error and the next run resumes from the saved cursors.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.config import HubSettings
from hub.connectors.registry import enabled_connectors
from hub.db.models import Lease, SyncRequest
from hub.schedules import parse_schedule
from hub.sync import jobs
from hub.sync.leases import LeaseHeld, acquire, holder_id, release

log = logging.getLogger(__name__)
T = TypeVar("T")
LEADER_LEASE = "scheduler"
MAX_ATTEMPTS = 3  # starts of one queued sync before it is failed rather than re-queued


@dataclass(frozen=True)
class LeaderJob:
    """A periodic job only the leader runs; a failure is logged and it simply runs again
    at its next interval."""

    name: str
    seconds: float
    run: Callable[[], Awaitable[Any]]
    first_now: bool = False  # also once at start, not only after the first interval


class HubScheduler:
    def __init__(self, engine: AsyncEngine, settings: HubSettings,
                 holder: str | None = None, leader_jobs: Sequence[LeaderJob] = ()) -> None:
        self.engine = engine
        self.settings = settings
        self.leader_jobs = tuple(leader_jobs)
        self.holder = holder or holder_id()
        self.leader = False
        self._lease_until = 0.0  # monotonic time our leader lease expires at
        self._scheduler = AsyncIOScheduler(timezone=UTC, job_defaults={
            "coalesce": True, "max_instances": 1,
            "misfire_grace_time": settings.schedule.misfire_grace_seconds,
        })
        self._lock = asyncio.Lock()

    def start(self) -> None:
        schedule = self.settings.schedule
        self._scheduler.add_job(self._campaign, IntervalTrigger(
            seconds=max(1.0, schedule.lease_seconds / 3)), id="leader",
            next_run_time=datetime.now(UTC))
        self._scheduler.add_job(self._queued, IntervalTrigger(seconds=schedule.poll_seconds),
                                id="queued")
        for job in self.leader_jobs:
            self._scheduler.add_job(self._as_leader, IntervalTrigger(seconds=job.seconds),
                                    args=[job.name, job.run], id=job.name,
                                    **({"next_run_time": datetime.now(UTC)}
                                       if job.first_now else {}))
        for name, spec in schedule.connectors.items():
            if name in self.settings.connectors and self.settings.connectors[name].enabled:
                self._scheduler.add_job(self._scheduled, parse_schedule(spec), args=[name],
                                        id=f"sync:{name}")
        self._scheduler.start()

    async def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        if self.leader:
            await release(self.engine, LEADER_LEASE, self.holder)
            self.leader = False

    async def _campaign(self) -> None:
        """Take or renew the leader lease. A renewal that fails because the database is
        busy (SQLite, while another process writes) or briefly away does not end the
        lead: the lease is still ours until it expires, and nobody can take it before.
        Only past that moment does this replica stop leading."""
        seconds = self.settings.schedule.lease_seconds
        attempt = time.monotonic()
        try:
            leader = await acquire(self.engine, LEADER_LEASE, self.holder, seconds)
        except Exception as error:
            leader = self.leader and time.monotonic() < self._lease_until
            log.warning("could not renew the leader lease (%s: %s); %s",
                        type(error).__name__, error,
                        "still leading until it expires" if leader else "not leading")
        else:
            if leader:
                self._lease_until = attempt + seconds
        if leader != self.leader:
            log.warning("%s %s the scheduler leader", self.holder,
                        "is now" if leader else "is no longer")
        self.leader = leader

    async def _as_leader(self, what: str, job: Callable[[], Awaitable[T]]) -> T | None:
        """Run a periodic job if this replica leads; a failure is logged and the job
        simply runs again at its next interval."""
        if not self.leader:
            return None
        try:
            return await job()
        except Exception:
            log.exception("%s failed; it runs again at its next interval", what)
            return None

    async def _scheduled(self, connector: str) -> None:
        if self.leader:
            await self.run(connector, full=False)

    async def _requeue_orphans(self) -> None:
        """A RUNNING request whose runner holds no lease any more (not the leader lease,
        not a job's) was left by a scheduler that died mid-run: it goes back in the
        queue, once per start up to MAX_ATTEMPTS, then fails with the reason."""
        now = datetime.now(UTC)
        live = select(Lease.holder).where(Lease.expires_at >= now)
        async with self.engine.begin() as conn:
            orphans = (await conn.execute(select(SyncRequest.id, SyncRequest.attempts).where(
                SyncRequest.status == "RUNNING",
                or_(SyncRequest.runner.is_(None), SyncRequest.runner.not_in(live))))).all()
            for orphan in orphans:
                spent = orphan.attempts >= MAX_ATTEMPTS
                await conn.execute(update(SyncRequest).where(
                    SyncRequest.id == orphan.id, SyncRequest.status == "RUNNING").values(
                    status="FAILED" if spent else "QUEUED", runner=None,
                    finished_at=now if spent else None,
                    error=f"its scheduler stopped while running it, {orphan.attempts} "
                          f"time(s)" if spent else None))
                log.warning("sync request %s %s: its scheduler stopped while running it",
                            orphan.id, "failed" if spent else "queued again")

    async def run(self, connector: str | None, *, full: bool) -> jobs.SyncOutcome | None:
        """One sync (one connector, or all) and the reconciliation after it."""
        async with self._lock:
            try:
                selected = enabled_connectors(self.settings, [connector] if connector else None)
                return await jobs.sync_and_reconcile(
                    self.engine, self.settings, selected, full=full, holder=self.holder,
                    lease_seconds=self.settings.schedule.lease_seconds)
            except LeaseHeld as busy:
                log.info("skipped: %s", busy)
                return None

    async def _queued(self) -> None:
        """Run the syncs asked for through the API, oldest first; first put back in the
        queue any whose runner died while running it."""
        if not self.leader:
            return
        await self._requeue_orphans()
        async with self.engine.begin() as conn:
            request = (await conn.execute(
                select(SyncRequest.id, SyncRequest.connector, SyncRequest.full)
                .where(SyncRequest.status == "QUEUED").order_by(SyncRequest.id).limit(1)
            )).first()
            if request is None:
                return
            taken = await conn.execute(update(SyncRequest).where(
                SyncRequest.id == request.id, SyncRequest.status == "QUEUED"
            ).values(status="RUNNING", started_at=datetime.now(UTC), runner=self.holder,
                     attempts=SyncRequest.attempts + 1))
            if not taken.rowcount:
                return
            request_id, connector, full = request.id, request.connector, request.full
        status, error = "DONE", None
        try:
            outcome = await self.run(connector, full=full)
            if outcome is None:
                status, error = "QUEUED", None  # the job runs elsewhere; try again later
            elif not outcome.ok:
                status = "FAILED"
                error = "; ".join(f"{r.connector}/{r.stream}: {r.error}"
                                  for r in outcome.streams if r.error)
        except Exception as failure:
            log.exception("queued sync %s failed", request_id)
            status, error = "FAILED", f"{type(failure).__name__}: {failure}"
        async with self.engine.begin() as conn:
            back = {"runner": None, "attempts": SyncRequest.attempts - 1} \
                if status == "QUEUED" else {}  # it never started: not a try
            await conn.execute(update(SyncRequest).where(SyncRequest.id == request_id).values(
                status=status, error=error,
                finished_at=None if status == "QUEUED" else datetime.now(UTC), **back))
