"""Hub to hub: a district hub (its registry reconciled from the five simulated agencies)
and a national hub, both real servers on 127.0.0.1. The national hub pulls the
district's households through DCI, subscribes, and hears of a death the district
learns from its civil registry, which its own reconciliation then applies without
reading the district's pages again."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from hub.cli import federation
from hub.config import HubSettings


async def test_a_national_hub_pulls_and_is_notified_by_a_district_hub(
        hub_engine: AsyncEngine, hub_settings: HubSettings, agencies: dict[str, str],
        sync_population: Path, tmp_path: Path) -> None:
    said: list[str] = []
    seen = await federation.demonstrate(hub_settings, hub_engine, agencies, sync_population,
                                        f"sqlite+aiosqlite:///{tmp_path / 'national.db'}",
                                        said.append)
    assert seen.district[0] > 0
    assert seen.national == seen.district  # every household, every member
    assert seen.same_families
    assert len(seen.subscription) == 32
    assert seen.notifications >= 1
    assert seen.alive_at_national is False
    assert any("deceased" in line for line in said)
