"""Per-village figures (`village_figure`, `village_coverage`), recounted from the
registry for the villages a write touched, in the writer's own transaction.

Every write to persons, households and enrolments goes through the golden-record
refresh (`hub.sync.golden`) or the population loader; both call `recount` with the
villages they touched, before and after. Region statistics sum these rows: they are
exact, not a cache that can be stale, because the recount commits with the change.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import and_, case, delete, distinct, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.models import Enrollment, Household, Person, VillageCoverage, VillageFigure

POOR_DESIL = 4  # desil 1-4: the poorest 40%, the PBI-JKN target group
CHUNK = 500
WHOLE = 2000  # villages touched beyond which one recount of all is cheaper


def _figures(villages: Collection[str] | None):
    query = (
        select(Household.village_code, Household.desil, func.count(distinct(Household.id)),
               func.count(Person.id))
        .select_from(Household)
        .outerjoin(Person, and_(Person.household_id == Household.id, Person.alive.is_(True)))
        .group_by(Household.village_code, Household.desil)
    )
    return query if villages is None else query.where(Household.village_code.in_(villages))


def _coverage(villages: Collection[str] | None):
    poor = case((Household.desil <= POOR_DESIL, Enrollment.person_id))
    query = (
        select(Household.village_code, Enrollment.program,
               func.count(distinct(Enrollment.person_id)),
               func.count(distinct(Person.household_id)), func.count(distinct(poor)))
        .select_from(Enrollment)
        .join(Person, Person.id == Enrollment.person_id)
        .join(Household, Household.id == Person.household_id)
        .where(Enrollment.status == "ACTIVE", Person.alive.is_(True))
        .group_by(Household.village_code, Enrollment.program)
    )
    return query if villages is None else query.where(Household.village_code.in_(villages))


async def recount(conn: AsyncConnection, villages: Collection[str | None] | None) -> None:
    """Recount these villages' figures (every village when None, or when so many are
    touched that one pass over the registry is cheaper than a pass per chunk)."""
    if villages is None or len(villages) > WHOLE:
        await conn.execute(delete(VillageFigure))
        await conn.execute(delete(VillageCoverage))
        await _insert(conn, None)
        return
    codes = sorted(v for v in villages if v)
    for start in range(0, len(codes), CHUNK):
        part = codes[start:start + CHUNK]
        await conn.execute(delete(VillageFigure).where(VillageFigure.village_code.in_(part)))
        await conn.execute(delete(VillageCoverage).where(
            VillageCoverage.village_code.in_(part)))
        await _insert(conn, part)


async def _insert(conn: AsyncConnection, villages: list[str] | None) -> None:
    await conn.execute(insert(VillageFigure).from_select(
        ["village_code", "desil", "households", "persons"], _figures(villages)))
    await conn.execute(insert(VillageCoverage).from_select(
        ["village_code", "program", "enrolled_persons", "enrolled_households",
         "poor_enrolled"], _coverage(villages)))
