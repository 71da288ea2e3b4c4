"""Aggregate queries over a region's subtree (a code range, so one index range scan)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.access.roles import RegionScope
from hub.db.engine import reader
from hub.db.figures import POOR_DESIL
from hub.db.models import Household, VillageCoverage, VillageFigure

CountQuery = Callable[[AsyncEngine], Awaitable[int]]


@dataclass(frozen=True)
class Coverage:
    program: str
    enrolled_persons: int
    enrolled_households: int
    poor_enrolled: int


@dataclass(frozen=True)
class Statistics:
    households: int
    persons: int
    poor_persons: int
    per_desil: list[tuple[int | None, int, int]]
    coverage: list[Coverage]


def under(column, codes: Sequence[str]):
    """`column` (a village code) under any of these regions (none: nothing): the region
    scope's own filter, index range scans OR-ed."""
    return RegionScope(tuple(codes)).condition(column)


def in_regions(codes: Sequence[str]):
    """Households under any of these regions (none: no household at all)."""
    return under(Household.village_code, codes)


async def region_statistics(engine: AsyncEngine, codes: Sequence[str]) -> Statistics:
    """Figures over the households under `codes`: one region, or the parts of one that
    a region-scoped client may see. Sums of the per-village figures the registry's
    writers keep (`hub.db.figures`), so a regency costs a few hundred rows, not a pass
    over its persons."""
    villages = under(VillageFigure.village_code, codes)
    per_desil_query = (
        select(VillageFigure.desil, func.sum(VillageFigure.households),
               func.sum(VillageFigure.persons))
        .where(villages)
        .group_by(VillageFigure.desil)
        .order_by(VillageFigure.desil)
    )
    coverage_query = (
        select(VillageCoverage.program, func.sum(VillageCoverage.enrolled_persons),
               func.sum(VillageCoverage.enrolled_households),
               func.sum(VillageCoverage.poor_enrolled))
        .where(under(VillageCoverage.village_code, codes))
        .group_by(VillageCoverage.program)
        .order_by(VillageCoverage.program)
    )
    async with reader(engine).connect() as connection:
        per_desil = [(desil, int(households), int(persons)) for desil, households, persons
                     in (await connection.execute(per_desil_query)).all()]
        coverage = [Coverage(program, int(persons), int(households), int(poor))
                    for program, persons, households, poor
                    in (await connection.execute(coverage_query)).all()]
    return Statistics(
        households=sum(r[1] for r in per_desil),
        persons=sum(r[2] for r in per_desil),
        poor_persons=sum(r[2] for r in per_desil if r[0] is not None and r[0] <= POOR_DESIL),
        per_desil=per_desil,  # type: ignore[arg-type]
        coverage=coverage,
    )
