"""Eligibility checks against the golden records: the facts a rule needs, fetched for a
whole batch in a few statements, then the pure rule (hub/domain/eligibility.py)."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from enum import StrEnum
from typing import Any, NamedTuple

from sqlalchemy import ARRAY, any_, bindparam, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.types import NullType

from hub.access.roles import RegionScope
from hub.config import ProgramRuleSettings
from hub.db.models import Enrollment, Household, Person
from hub.domain.eligibility import Decider, Outcome, ProgramRule, Subject
from hub.domain.nik import InvalidNik, clean_nik, mask_nik, parse_nik


class Lookup(StrEnum):
    FOUND = "FOUND"
    NOT_FOUND = "NOT_FOUND"
    INVALID_NIK = "INVALID_NIK"


class Checked(NamedTuple):
    """One NIK's answer. A named tuple: a batch makes 10,000 of them, and a frozen
    dataclass's field-by-field `__init__` cost three times as much."""

    index: int
    nik: str | None
    masked_nik: str
    lookup: Lookup
    problem: str | None = None
    person_id: int | None = None
    region_code: str | None = None
    desil: int | None = None
    outcome: Outcome | None = None


def rule_of(name: str, settings: ProgramRuleSettings) -> ProgramRule:
    return ProgramRule(
        name=name, description=settings.description, min_desil=settings.min_desil,
        max_desil=settings.max_desil, min_age=settings.min_age, max_age=settings.max_age,
        alive=settings.alive, not_enrolled_in=tuple(settings.not_enrolled_in),
        requires_enrolled_in=tuple(settings.requires_enrolled_in),
        regions=tuple(settings.regions), head_only=settings.head_only,
        household_min_members=settings.household_min_members,
        household_member_under=settings.household_member_under,
        household_member_over=settings.household_member_over,
        overlap_programs=tuple(settings.overlap_programs))


def _needs_household(rule: ProgramRule) -> bool:
    return any(value is not None for value in (
        rule.household_min_members, rule.household_member_under, rule.household_member_over))


def _masked(raw: str) -> str:
    digits = "".join(ch for ch in raw if ch.isdigit())
    return mask_nik(digits) if len(digits) == 16 else "*" * min(len(raw), 16)


async def check(engine: AsyncEngine, rule: ProgramRule, niks: Sequence[str],
                scope: RegionScope, today: date, *, parts: int = 1) -> list[Checked]:
    """One answer per NIK, in order. A NIK outside the client's regions is NOT_FOUND,
    exactly like one the registry does not hold."""
    # A NIK the registry holds needs no parsing to be answered; only the others are
    # parsed, to tell a malformed NIK (and why) from one the registry does not know.
    cleaned = [clean_nik(raw) for raw in niks]
    persons = await _persons(engine, sorted({nik for nik in cleaned if len(nik) == 16
                                             and nik.isdigit()}), parts)
    allowed = {region: scope.allows(region) for region in {row[_REGION]
                                                           for row in persons.values()}}
    visible = {nik: row for nik, row in persons.items() if allowed[row[_REGION]]}
    households: dict[int, tuple[date | None, ...]] = {}
    if _needs_household(rule):
        households = await _household_birth_dates(
            engine, sorted({row[_HOUSEHOLD] for row in visible.values()
                            if row[_HOUSEHOLD] is not None}))
    decide = Decider(rule, today)
    answers = []
    for index, (raw, nik) in enumerate(zip(niks, cleaned, strict=True)):
        row = visible.get(nik)
        if row is None:
            try:
                parse_nik(nik, today=today)
            except InvalidNik as error:
                answers.append(Checked(index, None, _masked(raw), Lookup.INVALID_NIK,
                                       str(error)))
                continue
            answers.append(Checked(index, nik, mask_nik(nik), Lookup.NOT_FOUND))
            continue
        person_id, _, alive, birth_date, relation, region, household, desil, programs = row
        subject = Subject(
            alive=bool(alive), birth_date=birth_date, desil=desil, region_code=region,
            relation=relation, active_programs=_programs(programs),
            household_birth_dates=households.get(household, ()))
        answers.append(Checked(index, nik, mask_nik(nik), Lookup.FOUND, None, person_id,
                               region, desil, decide(subject)))
    return answers


def one_of(column: Any, values: list[Any], dialect: str) -> Any:
    """`column IN (values)` as one bound parameter: a PostgreSQL array, or a JSON array
    that SQLite unpacks. A 10,000-item IN list would cost SQLAlchemy more to compile
    than the database to run."""
    if dialect == "postgresql":
        return column == any_(bindparam("values", values, type_=ARRAY(column.type)))
    unpacked = select(literal_column("value")).select_from(
        func.json_each(bindparam("values", json.dumps(values))))
    return column.in_(unpacked.scalar_subquery())


# A person row's columns, in the order _persons selects them.
_NIK, _REGION, _HOUSEHOLD = 1, 5, 6


async def _persons(engine: AsyncEngine, niks: list[str], parts: int = 1
                   ) -> dict[str, tuple[Any, ...]]:
    """The persons holding `niks`, each with the programmes it is active in, in one
    statement (a second one for the enrolments cost a round trip and as many rows).
    Each as a plain tuple: reading a SQLAlchemy Row by attribute name cost 0.6 µs a
    column, some 60 ms of a 10,000-NIK batch.

    On PostgreSQL the wanted NIKs are a table the registry is joined to, in `parts`
    statements run at once on their own connections. `nik = ANY(array)` of 9,000 NIKs
    at a million persons made the planner scan the whole table in parallel and hash
    every household (0.25-0.45 s); joined, it is one index probe each (0.21-0.23 s),
    and two halves at once take 0.10-0.14 s on two cores."""
    if not niks:
        return {}
    if engine.dialect.name == "postgresql" and parts > 1 and len(niks) >= 2 * _MIN_PART:
        size = -(-len(niks) // min(parts, len(niks) // _MIN_PART))
        found = await asyncio.gather(*(_person_rows(engine, niks[i:i + size])
                                       for i in range(0, len(niks), size)))
        rows = [row for part in found for row in part]
    else:
        rows = await _person_rows(engine, niks)
    # Lowest id wins where two persons claim a NIK, as in person(nik).
    out: dict[str, tuple[Any, ...]] = {}
    for row in rows:
        held = out.get(row[_NIK])
        if held is None or row[0] < held[0]:
            out[row[_NIK]] = row
    return out


# Below this many NIKs a statement is not worth a connection of its own.
_MIN_PART = 1_000


def _wanted(column: Any, values: list[Any]) -> Any:
    """`values` as a one-column table, `wanted(value)`, for PostgreSQL to join to
    `column`'s index: a probe per value, where `column = ANY(values)` of thousands
    was planned as a scan of the whole table."""
    return func.unnest(bindparam("wanted", values, type_=ARRAY(column.type))
                       ).table_valued("value").render_derived(name="wanted")


async def _person_rows(engine: AsyncEngine, niks: list[str]) -> list[tuple[Any, ...]]:
    dialect = engine.dialect.name
    active = (Enrollment.person_id == Person.id) & (Enrollment.status == "ACTIVE")
    # Untyped: asyncpg already gives a list, which SQLAlchemy's ARRAY would copy item
    # by item (3% of a batch's CPU).
    listed = (func.array_agg(Enrollment.program, type_=NullType()) if dialect == "postgresql"
              else func.json_group_array(Enrollment.program))
    columns = select(Person.id, Person.nik, Person.alive, Person.birth_date, Person.relation,
                     Person.region_code, Person.household_id, Household.desil,
                     select(listed).where(active).scalar_subquery().label("programs"))
    if dialect == "postgresql":
        wanted = _wanted(Person.nik, niks)
        statement = (columns.select_from(wanted)
                     .join(Person, Person.nik == wanted.c.value)
                     .outerjoin(Household, Household.id == Person.household_id))
    else:
        statement = (columns.outerjoin(Household, Household.id == Person.household_id)
                     .where(one_of(Person.nik, niks, dialect)))
    async with engine.connect() as conn:
        return [tuple(row) for row in (await conn.execute(statement)).all()]


def _programs(listed: list[str] | str | None) -> frozenset[str]:
    """array_agg's array (NULL when none), or SQLite's JSON array text."""
    if isinstance(listed, str):
        listed = json.loads(listed)
    return frozenset(listed or ())


async def _household_birth_dates(engine: AsyncEngine, households: list[int]
                                 ) -> dict[int, tuple[date | None, ...]]:
    """The living members' birth dates of each household.

    On PostgreSQL one row per household, its dates gathered by a subquery on that
    household alone, which the planner cannot turn into a scan: for 8,000 households
    of a million persons, `household_id = ANY(...)` or a plain join were planned as a
    scan of the whole person table (175-200 ms; 590 ms as a hash join), where the
    index probes take 50-80 ms, and 8,000 rows cost less to read than 35,000."""
    if not households:
        return {}
    dialect = engine.dialect.name
    async with engine.connect() as conn:
        if dialect == "postgresql":
            wanted = _wanted(Person.household_id, households)
            births = (select(func.array_agg(Person.birth_date, type_=NullType()))
                      .where(Person.household_id == wanted.c.value, Person.alive.is_(True))
                      .scalar_subquery())
            rows = await conn.execute(select(wanted.c.value, births))
            return {household: tuple(dates) for household, dates in rows if dates}
        grouped: dict[int, list[date | None]] = defaultdict(list)
        rows = await conn.execute(select(Person.household_id, Person.birth_date).where(
            one_of(Person.household_id, households, dialect), Person.alive.is_(True)))
        for household, birth in rows:
            grouped[household].append(birth)
    return {household: tuple(births) for household, births in grouped.items()}
