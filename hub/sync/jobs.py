"""The sync job: pull connectors into staging, then reconcile. One function, used by the
scheduler, `slrt-hub sync` and the `triggerSync` mutation alike, each step under its
own lease so that no two replicas ever run the same step at once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.config import HubSettings
from hub.connectors.base import Connector
from hub.connectors.runner import StreamResult, sync_connector
from hub.connectors.staging import StageCounts
from hub.db.models import SyncRun
from hub.db.statistics import RECONCILED_TABLES, vacuum
from hub.sync.leases import LeaseHeld, held, holder_id
from hub.sync.reconcile import Reconciler, ReconcileResult

# A job's lease is renewed while it runs; one whose process died expires after this.
JOB_LEASE_SECONDS = 60.0


@dataclass
class SyncOutcome:
    streams: list[StreamResult] = field(default_factory=list)
    reconcile: ReconcileResult | None = None

    @property
    def ok(self) -> bool:
        return all(r.status == "SUCCEEDED" for r in self.streams)


async def _close_interrupted(engine: AsyncEngine, connector: str) -> int:
    """Runs left RUNNING by a process that died: we hold the job's lease now, so
    nobody else is running them. Returns how many there were."""
    async with engine.begin() as conn:
        result = await conn.execute(update(SyncRun).where(
            SyncRun.connector == connector, SyncRun.status == "RUNNING"
        ).values(status="FAILED", finished_at=datetime.now(UTC),
                 error="interrupted: the process running it stopped"))
    return result.rowcount


async def run_connectors(engine: AsyncEngine, connectors: Sequence[Connector], *,
                         full: bool = False, holder: str | None = None,
                         lease_seconds: float = JOB_LEASE_SECONDS,
                         progress: Callable[[str], None] | None = None,
                         on_page: Callable[[str, StageCounts], None] | None = None,
                         ) -> list[StreamResult]:
    holder = holder or holder_id()
    results: list[StreamResult] = []
    for connector in connectors:
        if progress:
            progress(f"Syncing {connector.name}")
        page = (lambda counts, name=connector.name: on_page(name, counts)) if on_page else None
        try:
            async with held(engine, f"sync:{connector.name}", holder, lease_seconds):
                await _close_interrupted(engine, connector.name)
                results += await sync_connector(engine, connector, full=full, on_page=page)
        except LeaseHeld as busy:
            busy.done = results  # what was synced before, for the caller to report
            raise
    return results


async def reconcile(engine: AsyncEngine, settings: HubSettings, *, full: bool = False,
                    retrain: bool = False, holder: str | None = None,
                    lease_seconds: float = JOB_LEASE_SECONDS,
                    progress: Callable[[str], None] | None = None) -> ReconcileResult:
    async with held(engine, "reconcile", holder or holder_id(), lease_seconds):
        interrupted = await _close_interrupted(engine, "reconcile")
        vacuumed = False
        if interrupted:  # the killed run's dead rows first, or recovery is slow
            if progress:
                progress("vacuuming what the interrupted run left")
            vacuumed = await vacuum(engine, RECONCILED_TABLES)
        result = await Reconciler(engine, settings).run(full=full, retrain=retrain,
                                                        progress=progress)
        if vacuumed:
            result.counts["vacuumed_after_interruption"] = 1
        return result


async def sync_and_reconcile(engine: AsyncEngine, settings: HubSettings,
                             connectors: Sequence[Connector], *, full: bool = False,
                             holder: str | None = None,
                             lease_seconds: float = JOB_LEASE_SECONDS,
                             progress: Callable[[str], None] | None = None) -> SyncOutcome:
    holder = holder or holder_id()
    outcome = SyncOutcome(await run_connectors(engine, connectors, full=full, holder=holder,
                                               lease_seconds=lease_seconds, progress=progress))
    outcome.reconcile = await reconcile(engine, settings, holder=holder,
                                        lease_seconds=lease_seconds, progress=progress)
    return outcome
