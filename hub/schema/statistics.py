"""Aggregate queries over a region's subtree (a code range, so one index range scan)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import and_, case, distinct, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.db.models import Enrollment, Household, Person
from hub.domain.regions import code_range

POOR_DESIL = 4  # desil 1-4: the poorest 40%, the PBI-JKN target group

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


def in_region(code: str):
    low, high = code_range(code)
    return and_(Household.village_code >= low, Household.village_code < high)


def in_regions(codes: Sequence[str]):
    """Households under any of these regions (none: no household at all)."""
    if not codes:
        return false()
    return in_region(codes[0]) if len(codes) == 1 else or_(*map(in_region, codes))


async def region_statistics(engine: AsyncEngine, codes: Sequence[str]) -> Statistics:
    """Figures over the households under `codes`: one region, or the parts of one that
    a region-scoped client may see."""
    living = and_(Person.alive.is_(True))
    per_desil_query = (
        select(
            Household.desil,
            func.count(distinct(Household.id)),
            func.count(Person.id),
        )
        .select_from(Household)
        .outerjoin(Person, and_(Person.household_id == Household.id, living))
        .where(in_regions(codes))
        .group_by(Household.desil)
        .order_by(Household.desil)
    )
    poor = case((Household.desil <= POOR_DESIL, Enrollment.person_id))
    coverage_query = (
        select(
            Enrollment.program,
            func.count(distinct(Enrollment.person_id)),
            func.count(distinct(Person.household_id)),
            func.count(distinct(poor)),
        )
        .join(Person, Person.id == Enrollment.person_id)
        .join(Household, Household.id == Person.household_id)
        .where(in_regions(codes), Enrollment.status == "ACTIVE", living)
        .group_by(Enrollment.program)
        .order_by(Enrollment.program)
    )
    async with engine.connect() as connection:
        per_desil = [tuple(r) for r in (await connection.execute(per_desil_query)).all()]
        coverage = [Coverage(*r) for r in (await connection.execute(coverage_query)).all()]
    return Statistics(
        households=sum(r[1] for r in per_desil),
        persons=sum(r[2] for r in per_desil),
        poor_persons=sum(r[2] for r in per_desil if r[0] is not None and r[0] <= POOR_DESIL),
        per_desil=per_desil,  # type: ignore[arg-type]
        coverage=coverage,
    )
