"""Reconciliation: staged records → links → golden persons, households, enrolments →
findings, in one transaction.

One transaction because the pieces only make sense together: a record linked to a
person whose golden values were not yet recomputed is a lie the next reader would
believe. If the run dies, it rolls back whole and the next run starts from the same
pending records (those whose `matched_hash` differs from their `payload_hash`).

A run is incremental: it touches the records that changed since they were last
matched, the persons they were or are linked to, and those persons' households.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.config import HubSettings
from hub.db.models import Person, SourceRecord, SyncRun
from hub.db.statistics import PlannerStatistics
from hub.domain.survivorship import SurvivorshipRules
from hub.sync.collector import patient_collector
from hub.sync.extras import require_linkage
from hub.sync.findings import FindingRules, Held, partial_sources
from hub.sync.golden import GoldenRecords
from hub.sync.timing import Clock

if TYPE_CHECKING:
    from hub.sync.links import Linking

Progress = Callable[[str], None]


@dataclass
class ReconcileResult:
    run_id: int
    counts: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


def rules_from(settings: HubSettings) -> SurvivorshipRules:
    s = settings.survivorship
    return SurvivorshipRules(identity=s.identity, residence=s.residence, programs=s.programs)


def _now() -> datetime:
    return datetime.now(UTC)


log = logging.getLogger(__name__)
HELD_SOURCE = "held_source_"  # a run's count naming a source whose findings it held


class Reconciler:
    def __init__(self, engine: AsyncEngine, settings: HubSettings) -> None:
        self.engine = engine
        self.settings = settings
        self.rules = rules_from(settings)
        self.person_sources = list(settings.survivorship.identity)
        self.household_sources = list(settings.survivorship.welfare)
        f = settings.findings
        finding_rules = FindingRules(
            pbi_max_desil=f.pbi_max_desil, pip_max_desil=f.pip_max_desil, pip_ages=f.pip_ages,
            programs=self.rules.programs, civil_registry="dukcapil",
            person_sources=self.person_sources)
        # One per Reconciler: a run's tables grow from empty inside its transaction.
        self.statistics = PlannerStatistics()
        self.golden = GoldenRecords(self.rules, finding_rules, self.person_sources,
                                    self.household_sources, self.statistics,
                                    by_province=settings.database.by_province)

    @cached_property
    def linking(self) -> Linking:
        """Made on first use: the record-linkage engine loads Splink and DuckDB, which
        the API (stewards' refreshes of golden records) never needs."""
        require_linkage()
        from hub.sync.links import Linking

        return Linking(self.settings, self.person_sources, self.household_sources,
                       self.statistics)

    async def run(self, *, full: bool = False, retrain: bool = False,
                  progress: Progress | None = None) -> ReconcileResult:
        say = progress or (lambda _message: None)
        started = time.perf_counter()
        async with self.engine.begin() as conn:
            run = (await conn.execute(
                insert(SyncRun).values(connector="reconcile", status="RUNNING", counts={})
                .returning(SyncRun.id)
            )).scalar_one()
        try:
            with patient_collector():
                async with self.engine.begin() as conn:
                    counts = await self._run(conn, full=full, retrain=retrain, say=say)
        except BaseException as error:
            async with self.engine.begin() as conn:
                await conn.execute(update(SyncRun).where(SyncRun.id == run).values(
                    status="FAILED", finished_at=_now(), error=f"{type(error).__name__}: {error}"
                ))
            raise
        async with self.engine.begin() as conn:
            await conn.execute(update(SyncRun).where(SyncRun.id == run).values(
                status="SUCCEEDED", finished_at=_now(), counts=counts
            ))
        return ReconcileResult(run, counts, time.perf_counter() - started)

    async def _run(self, conn: AsyncConnection, *, full: bool, retrain: bool,
                   say: Progress) -> dict[str, float]:
        if not full:
            linked = (await conn.execute(
                select(SourceRecord.id).where(SourceRecord.person_id.is_not(None)).limit(1)
            )).first()
            full = linked is None
        clock = Clock()
        phase = clock.lap
        say("reading pending records")
        require_linkage()
        from hub.sync.resolution import LINKAGE_COLUMNS
        from hub.sync.scoring import schema_for

        schema = schema_for(LINKAGE_COLUMNS)
        pending = await self.linking.read_pending(conn, full=full, schema=schema)
        phase("read")
        counts: dict[str, float] = {"pending": len(pending.ids), "full": int(full)}
        touched: set[int] = set()
        if pending.ids:
            outcome = await self.linking.match(conn, pending, full=full, retrain=retrain,
                                               say=say)
            phase("match")
            say("writing links")
            touched |= await self.linking.write(conn, pending, outcome, full=full)
            phase("link")
            counts |= outcome.counts  # with the link phase's steps
            counts["predictions"] = outcome.predictions
        changed, members = await self.golden.household_changes(conn, full=full)
        counts["household_records"] = changed
        touched |= members
        held = await self._held(conn)
        recovered = await self._recovered(conn, held)
        if recovered:  # the findings held while they were partial are due for everyone
            log.warning("%s read whole again: findings of every person are re-evaluated",
                        ", ".join(sorted(recovered)))
            touched |= set((await conn.execute(select(Person.id))).scalars())
            counts["recovered_sources"] = len(recovered)
        say(f"golden records and findings of {len(touched)} persons")
        counts["persons_touched"] = len(touched)
        counts |= dict(await self.golden.refresh(conn, touched, held))
        if held:
            log.warning("findings resting on %s are held: the last read of it failed or "
                        "stopped part way", ", ".join(sorted(held.partial)))
            counts |= {f"{HELD_SOURCE}{source}": 1 for source in held.partial}
        phase("golden")
        counts |= clock.seconds()
        return counts

    async def refresh(self, conn: AsyncConnection, persons: set[int]) -> Counter[str]:
        """Rebuild the golden records and findings of `persons` (a steward moved their
        records), removing any left without records."""
        return await self.golden.refresh(conn, persons, await self._held(conn))

    async def _held(self, conn: AsyncConnection) -> Held:
        return Held(await partial_sources(conn), self.golden.finding_rules.civil_registry)

    @staticmethod
    async def _recovered(conn: AsyncConnection, held: Held) -> set[str]:
        """Sources the last successful run held findings for, and that are whole now."""
        last = (await conn.execute(select(SyncRun.counts).where(
            SyncRun.connector == "reconcile", SyncRun.status == "SUCCEEDED")
            .order_by(SyncRun.id.desc()).limit(1))).scalar_one_or_none() or {}
        before = {key.removeprefix(HELD_SOURCE) for key in last if key.startswith(HELD_SOURCE)}
        return before - held.partial
