"""The sync job: pull connectors into staging, then reconcile. One function, used by the
scheduler, `slrt-hub sync` and the `triggerSync` mutation alike, each step under its
own lease so that no two replicas ever run the same step at once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from hub.config import HubSettings
from hub.connectors.base import Connector
from hub.connectors.runner import StreamResult, sync_connector
from hub.sync.leases import held, holder_id
from hub.sync.reconcile import Reconciler, ReconcileResult

# A job that outlives its lease is assumed dead; generous, since a full national
# reconciliation may take many minutes.
JOB_LEASE_SECONDS = 6 * 3600


@dataclass
class SyncOutcome:
    streams: list[StreamResult] = field(default_factory=list)
    reconcile: ReconcileResult | None = None

    @property
    def ok(self) -> bool:
        return all(r.status == "SUCCEEDED" for r in self.streams)


async def run_connectors(engine: AsyncEngine, connectors: Sequence[Connector], *,
                         full: bool = False, holder: str | None = None,
                         progress: Callable[[str], None] | None = None) -> list[StreamResult]:
    holder = holder or holder_id()
    results: list[StreamResult] = []
    for connector in connectors:
        if progress:
            progress(f"Syncing {connector.name}")
        async with held(engine, f"sync:{connector.name}", holder, JOB_LEASE_SECONDS):
            results += await sync_connector(engine, connector, full=full)
    return results


async def reconcile(engine: AsyncEngine, settings: HubSettings, *, full: bool = False,
                    retrain: bool = False, holder: str | None = None,
                    progress: Callable[[str], None] | None = None) -> ReconcileResult:
    async with held(engine, "reconcile", holder or holder_id(), JOB_LEASE_SECONDS):
        return await Reconciler(engine, settings).run(full=full, retrain=retrain,
                                                      progress=progress)


async def sync_and_reconcile(engine: AsyncEngine, settings: HubSettings,
                             connectors: Sequence[Connector], *, full: bool = False,
                             holder: str | None = None,
                             progress: Callable[[str], None] | None = None) -> SyncOutcome:
    holder = holder or holder_id()
    outcome = SyncOutcome(await run_connectors(engine, connectors, full=full, holder=holder,
                                               progress=progress))
    outcome.reconcile = await reconcile(engine, settings, holder=holder, progress=progress)
    return outcome
