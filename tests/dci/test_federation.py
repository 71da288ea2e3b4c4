"""Hub to hub: a district hub (its registry reconciled from the five simulated agencies)
and a national hub, both real servers on 127.0.0.1. The national hub pulls the
district's households through DCI, subscribes, and hears of a death the district
learns from its civil registry, which its own reconciliation then applies."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.config import HubSettings
from hub.db.engine import create_engine
from hub.db.migrate import upgrade
from hub.db.models import Household, Person
from hub.dci import federation
from hub.sync import jobs
from hub.simulators.population_files import read_jsonl
from tests.pg_server import free_ports
from tests.sync.conftest import sync_all
from tests.sync.test_reconcile import _append


async def test_a_national_hub_pulls_and_is_notified_by_a_district_hub(
        hub_engine: AsyncEngine, hub_settings: HubSettings, agencies: dict[str, str],
        sync_population: Path, tmp_path: Path) -> None:
    await sync_all(hub_engine, hub_settings)  # the district's own registry
    national_url = f"sqlite+aiosqlite:///{tmp_path / 'national.db'}"
    await asyncio.to_thread(upgrade, national_url)
    national_engine = create_engine(national_url)
    district_port, national_port = free_ports(2)
    national_base = hub_settings.model_copy(update={
        "database": hub_settings.database.model_copy(update={"url": national_url})})
    pair = await federation.onboard(hub_settings, hub_engine, national_base, district_port,
                                    national_port, "slrt-hub-3314")
    try:
        async with federation.serving(pair.district, hub_engine, district_port), \
                federation.serving(pair.national, national_engine, national_port):
            outcome = await federation.pull(pair, national_engine)
            assert outcome.ok, outcome
            assert await federation.households(national_engine) == \
                await federation.households(hub_engine)
            async with hub_engine.connect() as conn:
                district_kks = set((await conn.execute(select(Household.kk))).scalars())
            async with national_engine.connect() as conn:
                national_kks = set((await conn.execute(select(Household.kk))).scalars())
            assert national_kks == district_kks

            code = await federation.subscribe_national(pair, national_engine)
            assert len(code) == 32

            resident = next(r for r in read_jsonl(sync_population / "agencies" /
                                                  "dukcapil.jsonl")
                            if r["STATUS_HIDUP"] == "HIDUP" and r["NIK"])
            await _append(agencies["dukcapil"], "residents",
                          {**resident, "STATUS_HIDUP": "MATI", "TGL_KMT": "02-11-2026"})
            await sync_all(hub_engine, hub_settings)  # the district learns of the death

            async def heard() -> int:
                return await federation.notifications(national_engine)

            assert await federation.waited(heard) >= 1
            # Applied from the notification alone: no pull of the district's pages.
            await jobs.reconcile(national_engine, pair.national)
            async with national_engine.connect() as conn:
                alive = (await conn.execute(select(Person.alive).where(
                    Person.nik == resident["NIK"]))).scalar_one()
            assert alive is False
    finally:
        await national_engine.dispose()
