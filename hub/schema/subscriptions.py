"""Subscriptions. Each polls the database: the hub may run several replicas and the
scheduler's jobs in another process, so the database is the one place every change
is seen."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import strawberry
from sqlalchemy import select

from hub.db.models import SyncRun as SyncRunRow
from hub.schema.desk import Referral, referral_changes
from hub.schema.loaders import fetch_all
from hub.schema.reconciliation import SyncRun
from hub.schema.types import HubInfo

RECENT = 50  # runs watched for a change of status


@strawberry.type
class Subscription:
    @strawberry.subscription(description="Sync and reconciliation runs as they start and "
                             "finish (optionally of one connector).")
    async def sync_run_updates(self, info: HubInfo, connector: str | None = None
                               ) -> AsyncGenerator[SyncRun, None]:
        statement = select(SyncRunRow.__table__)
        if connector:
            statement = statement.where(SyncRunRow.connector == connector)
        statement = statement.order_by(SyncRunRow.id.desc()).limit(RECENT)
        poll = info.context.settings.access.subscription_poll_seconds
        known = {row["id"]: row["status"] for row in
                 await fetch_all(info.context.engine, statement)}
        while True:
            await asyncio.sleep(poll)
            rows = await fetch_all(info.context.engine, statement)
            for row in sorted(rows, key=lambda r: r["id"]):
                if known.get(row["id"]) != row["status"]:
                    known[row["id"]] = row["status"]
                    yield SyncRun.from_row(row)
            if len(known) > 4 * RECENT:
                keep = sorted(known)[-RECENT:]
                known = {run: known[run] for run in keep}

    @strawberry.subscription(description="Referrals as they change (new, each step, "
                             "overdue, escalated): an agency's desk sees those addressed "
                             "to it, a district those in its regions.")
    async def referral_updates(self, info: HubInfo, agency: str | None = None
                               ) -> AsyncGenerator[Referral, None]:
        async for referral in referral_changes(info, agency):
            yield referral
