"""Keeps the region table equal to the domain's region catalogue."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.db.models import Region as RegionRow
from hub.domain.regions import RegionLevel, catalog

_LEVEL_ORDER = list(RegionLevel)


async def sync_regions(session: AsyncSession) -> int:
    """Insert the catalogue's regions that the table lacks, parents first. Returns the count."""
    existing = set((await session.scalars(select(RegionRow.code))).all())
    regions = sorted(catalog().regions.values(), key=lambda r: _LEVEL_ORDER.index(r.level))
    new = [
        RegionRow(code=r.code, level=r.level.value, name=r.name, parent_code=r.parent_code)
        for r in regions
        if r.code not in existing
    ]
    session.add_all(new)
    await session.flush()
    return len(new)
