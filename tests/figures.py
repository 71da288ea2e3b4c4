"""The per-village figures recounted from raw rows in Python: an oracle independent of
the SQL that keeps them (hub.db.figures)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.db.models import Enrollment, Household, Person, VillageCoverage, VillageFigure


async def expected_and_stored(engine: AsyncEngine) -> tuple[Any, Any]:
    async with engine.connect() as conn:
        households = (await conn.execute(select(Household.id, Household.village_code,
                                                Household.desil))).all()
        persons = (await conn.execute(select(Person.id, Person.household_id,
                                             Person.alive))).all()
        enrolments = (await conn.execute(select(Enrollment.person_id, Enrollment.program,
                                                Enrollment.status))).all()
        stored_figures = (await conn.execute(select(
            VillageFigure.village_code, VillageFigure.desil, VillageFigure.households,
            VillageFigure.persons))).all()
        stored_coverage = (await conn.execute(select(
            VillageCoverage.village_code, VillageCoverage.program,
            VillageCoverage.enrolled_persons, VillageCoverage.enrolled_households,
            VillageCoverage.poor_enrolled))).all()
    household = {h.id: h for h in households}
    figures: dict[tuple[str, int | None], list[int]] = defaultdict(lambda: [0, 0])
    for h in households:
        figures[(h.village_code, h.desil)][0] += 1
    living = {p.id: p for p in persons if p.alive and p.household_id in household}
    for p in living.values():
        h = household[p.household_id]
        figures[(h.village_code, h.desil)][1] += 1
    coverage: dict[tuple[str, str], tuple[set, set, set]] = defaultdict(
        lambda: (set(), set(), set()))
    for e in enrolments:
        p = living.get(e.person_id)
        if e.status != "ACTIVE" or p is None:
            continue
        h = household[p.household_id]
        persons_, households_, poor = coverage[(h.village_code, e.program)]
        persons_.add(p.id)
        households_.add(h.id)
        if h.desil is not None and h.desil <= 4:
            poor.add(p.id)
    expected = (
        sorted((v, d, n[0], n[1]) for (v, d), n in figures.items()),
        sorted((v, prog, len(a), len(b), len(c)) for (v, prog), (a, b, c) in coverage.items()),
    )
    stored = (sorted(tuple(r) for r in stored_figures),
              sorted(tuple(r) for r in stored_coverage))
    return expected, stored
