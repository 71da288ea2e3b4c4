"""Keeps the region table equal to the domain's region catalogue."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from hub.db.models import Region as RegionRow
from hub.domain.regions import RegionLevel, catalog, level_of, parent_of

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


async def ensure_regions(conn: AsyncConnection, codes: Iterable[str]) -> int:
    """Make sure each code (and its parents) has a region row. Agencies know villages
    our catalogue does not (a new village, a split): they get a row named after their
    code rather than being refused, and a steward can name them later."""
    wanted: set[str] = set()
    for code in codes:
        while code:
            wanted.add(code)
            code = parent_of(code) or ""
    existing: set[str] = set()
    ordered = sorted(wanted)
    for start in range(0, len(ordered), 500):
        batch = ordered[start:start + 500]
        existing |= set((await conn.execute(
            select(RegionRow.code).where(RegionRow.code.in_(batch)))).scalars())
    known = catalog().regions
    rows = []
    for code in sorted(wanted - existing, key=lambda c: (c.count("."), c)):
        region = known.get(code)
        rows.append({
            "code": code, "level": level_of(code).value,
            "name": region.name if region else f"({code})", "parent_code": parent_of(code),
        })
    if rows:
        await conn.execute(insert(RegionRow), rows)
    return len(rows)
