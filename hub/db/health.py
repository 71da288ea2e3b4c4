"""The hub's state as an operator watches it: how far behind each connector is, whether
its last run failed or tripped the circuit breaker, how long reconciliation takes, what
waits in the review queue, the open findings, the outboxes. Read from the database, so
every replica reports the same figures whichever process did the work."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.models import (
    DciCallback,
    Finding,
    ReviewTask,
    SyncRequest,
    SyncRun,
    WebhookDelivery,
)
from hub.domain.dates import as_utc


@dataclass(frozen=True)
class ConnectorHealth:
    connector: str
    lag_seconds: float | None  # since the last successful run finished; None: never
    last_failed: bool
    circuit_open: bool
    failures_last_day: int


@dataclass
class Health:
    connectors: list[ConnectorHealth] = field(default_factory=list)
    reconcile_seconds: float | None = None  # the last successful run's duration
    reconcile_lag_seconds: float | None = None
    review_tasks_open: int = 0
    findings_open: dict[tuple[str, str], int] = field(default_factory=dict)  # kind, owner
    webhooks: dict[str, int] = field(default_factory=dict)  # status -> deliveries
    dci_callbacks: dict[str, int] = field(default_factory=dict)
    sync_requests: dict[str, int] = field(default_factory=dict)


def _age(moment: datetime | None, now: datetime) -> float | None:
    return (now - as_utc(moment)).total_seconds() if moment else None


async def read(conn: AsyncConnection, connectors: list[str]) -> Health:
    now = datetime.now(UTC)
    health = Health()
    for name in connectors:
        last = (await conn.execute(select(SyncRun.status, SyncRun.error).where(
            SyncRun.connector == name).order_by(SyncRun.id.desc()).limit(1))).first()
        success = (await conn.execute(select(func.max(SyncRun.finished_at)).where(
            SyncRun.connector == name, SyncRun.status == "SUCCEEDED"))).scalar()
        failures = (await conn.execute(select(func.count()).select_from(SyncRun).where(
            SyncRun.connector == name, SyncRun.status == "FAILED",
            SyncRun.started_at >= now - timedelta(days=1)))).scalar_one()
        error = (last.error or "") if last else ""
        health.connectors.append(ConnectorHealth(
            name, _age(success, now), bool(last and last.status == "FAILED"),
            error.startswith("CircuitOpenError"), failures))
    reconcile = (await conn.execute(select(SyncRun.started_at, SyncRun.finished_at).where(
        SyncRun.connector == "reconcile", SyncRun.status == "SUCCEEDED")
        .order_by(SyncRun.id.desc()).limit(1))).first()
    if reconcile is not None and reconcile.finished_at and reconcile.started_at:
        health.reconcile_seconds = (as_utc(reconcile.finished_at)
                                    - as_utc(reconcile.started_at)).total_seconds()
        health.reconcile_lag_seconds = _age(reconcile.finished_at, now)
    health.review_tasks_open = (await conn.execute(select(func.count()).select_from(
        ReviewTask).where(ReviewTask.status == "OPEN"))).scalar_one()
    health.findings_open = {(kind, owner or ""): n for kind, owner, n in await conn.execute(
        select(Finding.kind, Finding.owner_agency, func.count()).where(
            Finding.status == "OPEN").group_by(Finding.kind, Finding.owner_agency))}
    for table, into in ((WebhookDelivery, health.webhooks), (DciCallback, health.dci_callbacks),
                        (SyncRequest, health.sync_requests)):
        into.update(dict((await conn.execute(select(table.status, func.count())
                                             .group_by(table.status))).all()))
    return health
