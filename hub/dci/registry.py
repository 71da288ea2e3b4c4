"""Runs a parsed DCI search against the golden records, inside the client's regions."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import and_, exists, func, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.access.roles import RegionScope
from hub.db.models import Enrollment, Household, Person, SourceRecord
from hub.db.onerow import OneRowStatement, fetch_rows
from hub.dci import records
from hub.dci.query import Comparison, EnrolledQuestion, IdQuery, SearchItem, Term
from hub.domain.regions import code_range

SEX = {"M": "M", "F": "F", "MALE": "M", "FEMALE": "F"}


@dataclass
class Found:
    total: int
    records: list[dict[str, Any]]
    subjects: list[tuple[str, int, str | None]] = field(default_factory=list)


def _years_ago(today: date, years: int) -> date:
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # 29 February
        return today.replace(year=today.year - years, day=28)


def _compare(column: Any, operator: str, value: Any) -> Any:
    return {"gt": column > value, "lt": column < value, "eq": column == value,
            "ge": column >= value, "le": column <= value}[operator]


def _under(column: Any, code: str) -> Any:
    low, high = code_range(code)
    return and_(column >= low, column < high)


def _condition(term: Comparison, today: date) -> Any:
    values = term.value if term.operator == "in" else [term.value]
    if term.attribute == "desil":
        if term.operator == "in":
            return Household.desil.in_(values)
        return _compare(Household.desil, term.operator, term.value)
    if term.attribute == "region_code":
        return or_(*(_under(Person.region_code, code) for code in values))
    if term.attribute == "sex":
        return Person.sex.in_([SEX.get(v, v) for v in values])
    if term.attribute == "program":
        return exists().where(Enrollment.person_id == Person.id, Enrollment.status == "ACTIVE",
                              Enrollment.program.in_(values))
    # age in whole years: compare birth dates
    if term.operator == "in":
        return or_(*(_age(age, "eq", today) for age in values))
    return _age(term.value, term.operator, today)


def _age(age: int, operator: str, today: date) -> Any:
    born = Person.birth_date
    if operator == "eq":
        return and_(born <= _years_ago(today, age), born > _years_ago(today, age + 1))
    if operator == "ge":
        return born <= _years_ago(today, age)
    if operator == "gt":
        return born <= _years_ago(today, age + 1)
    if operator == "le":
        return born > _years_ago(today, age + 1)
    return born > _years_ago(today, age)  # lt


def predicate(terms: tuple[Term, ...], today: date) -> Any:
    parts = []
    for term in terms:
        if isinstance(term, Comparison):
            parts.append(_condition(term, today))
        elif term.condition == "not":
            parts.append(not_(_condition(term.left, today)))
        else:
            assert term.right is not None
            join = and_ if term.condition == "and" else or_
            parts.append(join(_condition(term.left, today), _condition(term.right, today)))
    return and_(*parts)


def _persons_of(query: IdQuery) -> Any:
    """A SELECT of person ids an identifier names."""
    if query.id_type == "NIK":
        return select(Person.id).where(Person.nik == query.value)
    if query.id_type == "KK":
        return select(Person.id).join(Household, Household.id == Person.household_id).where(
            Household.kk == query.value)
    if query.id_type == "BPJS":
        return select(Enrollment.person_id).where(Enrollment.card_number == query.value,
                                                  Enrollment.source.like("bpjs%"))
    return select(SourceRecord.person_id).where(  # NISN: the education record's
        SourceRecord.source == "education",
        SourceRecord.normalized["nisn"].as_string() == query.value)


def _order(item: SearchItem, table: Any) -> list[Any]:
    household_desil = select(Household.desil).where(
        Household.id == Person.household_id).scalar_subquery()
    columns = {"desil": Household.desil, "region_code": Household.village_code,
               "id": table.id} if table is Household else {
        "desil": household_desil, "region_code": Person.region_code, "id": Person.id}
    order = [columns[name].desc() if direction == "desc" else columns[name].asc()
             for name, direction in item.sort]
    return [*order, table.id.asc()]


async def _total(conn: Any, statement: Any, offset: int, fetched: int, size: int) -> int:
    """The result's size: known without counting when a page came back short (a look-up
    by NIK returns one row), counted otherwise."""
    if fetched < size and (fetched or not offset):
        return offset + fetched
    return int((await conn.execute(select(func.count()).select_from(statement.subquery()))
                ).scalar_one())


_MEMBER_COLUMNS = ("id", "nik", "name", "sex", "birth_date", "birth_place", "relation",
                   "alive", "death_date")
_by_nik: dict[int | None, OneRowStatement] = {}


def _member_by_nik(regions: int | None) -> OneRowStatement:
    """Members by NIK inside a scope of `regions` regions (None: everywhere), as
    RegionScope.condition filters them."""
    found = _by_nik.get(regions)
    if found is None:
        sql = f"SELECT {', '.join(_MEMBER_COLUMNS)} FROM person WHERE nik = :nik"
        if regions is not None:
            sql += " AND (" + " OR ".join(
                f"(region_code >= :low{i} AND region_code < :high{i})"
                for i in range(regions)) + ")"
        found = OneRowStatement(sql + " ORDER BY id LIMIT :size OFFSET :offset")
        if len(_by_nik) < 64:
            _by_nik[regions] = found
    return found


async def _members_by_nik(engine: AsyncEngine, item: SearchItem, nik: str,
                          scope: RegionScope) -> Found | None:
    """The look-up a registry is asked most (a Member by NIK) on the driver's shortest
    path; None when the general query must answer (a full page, whose total needs a
    count). The rows, order and total are the general query's."""
    if not scope.everywhere and not scope.regions:
        return Found(0, [])
    parameters: dict[str, Any] = {"nik": nik, "size": item.page_size,
                                  "offset": (item.page_number - 1) * item.page_size}
    for i, (low, high) in enumerate(map(code_range, scope.regions)):
        parameters[f"low{i}"], parameters[f"high{i}"] = low, high
    statement = _member_by_nik(None if scope.everywhere else len(scope.regions))
    rows = await fetch_rows(engine, statement, parameters)
    if len(rows) >= item.page_size or (not rows and parameters["offset"]):
        return None
    return Found(parameters["offset"] + len(rows), [records.member(r) for r in rows],
                 [("person", r["id"], r["nik"]) for r in rows])


def _nik_look_up(engine: AsyncEngine, item: SearchItem) -> str | None:
    """The NIK when this item is the plain look-up the shortest path answers: asyncpg
    (its rows keep their types; SQLite's text rows would not), no sort asked."""
    query = item.query
    if engine.dialect.driver == "asyncpg" and isinstance(query, IdQuery) and \
            query.id_type == "NIK" and item.entity == "Member" and not item.sort:
        return query.value
    return None


async def search(engine: AsyncEngine, item: SearchItem, scope: RegionScope,
                 today: date) -> Found:
    if (nik := _nik_look_up(engine, item)) is not None:
        found = await _members_by_nik(engine, item, nik, scope)
        if found is not None:
            return found
    visible = scope.condition(Person.region_code)
    if isinstance(item.query, IdQuery):
        person_filter = Person.id.in_(_persons_of(item.query))
    else:
        person_filter = predicate(item.query, today)
    persons = select(Person.id).outerjoin(Household, Household.id == Person.household_id) \
        .where(person_filter)
    if visible is not None:
        persons = persons.where(visible)
    offset = (item.page_number - 1) * item.page_size
    async with engine.connect() as conn:
        if item.entity == "Member":
            base = select(Person.__table__).where(Person.id.in_(persons))
            rows = (await conn.execute(base.order_by(*_order(item, Person)).offset(offset)
                                       .limit(item.page_size))).mappings().all()
            total = await _total(conn, base, offset, len(rows), item.page_size)
            return Found(total, [records.member(r) for r in rows],
                         [("person", r["id"], r["nik"]) for r in rows])
        households = select(Household.__table__).where(
            Household.id.in_(persons.with_only_columns(Person.household_id)))
        household_scope = scope.condition(Household.village_code)
        if household_scope is not None:
            households = households.where(household_scope)
        page = (await conn.execute(households.order_by(*_order(item, Household))
                                   .offset(offset).limit(item.page_size))).mappings().all()
        total = await _total(conn, households, offset, len(page), item.page_size)
        return await groups(conn, page, scope, total)


async def groups(conn: Any, page: Sequence[Any], scope: RegionScope, total: int) -> Found:
    """Households as `Group` records with the members the client may see."""
    members: dict[int, list[Any]] = defaultdict(list)
    if page:
        rows = (await conn.execute(select(Person.__table__).where(
            Person.household_id.in_([h["id"] for h in page])).order_by(Person.id))
        ).mappings().all()
        for row in rows:
            if scope.allows(row["region_code"]):
                members[row["household_id"]].append(row)
    subjects = [("household", h["id"], h["kk"]) for h in page]
    subjects += [("person", p["id"], p["nik"]) for h in page for p in members[h["id"]]]
    return Found(total, [records.group(h, members[h["id"]]) for h in page], subjects)


async def households_matching(conn: Any, households: Sequence[int],
                              query: IdQuery | tuple[Term, ...] | None, scope: RegionScope,
                              today: date) -> list[Any]:
    """Those of `households` inside the client's regions that the filter selects (a
    household is selected when any member is), as rows."""
    if not households:
        return []
    statement = select(Household.__table__).where(Household.id.in_(households))
    household_scope = scope.condition(Household.village_code)
    if household_scope is not None:
        statement = statement.where(household_scope)
    if query is not None:
        persons = select(Person.household_id).outerjoin(
            Household, Household.id == Person.household_id).where(
            Person.id.in_(_persons_of(query)) if isinstance(query, IdQuery)
            else predicate(query, today))
        statement = statement.where(Household.id.in_(persons))
    return list((await conn.execute(statement.order_by(Household.id))).mappings().all())


async def enrolled(engine: AsyncEngine, question: EnrolledQuestion, scope: RegionScope,
                   event: Any) -> bool:
    """Whether the person (or anyone in the family) holds an active enrolment in the
    programme. Unknown and outside the client's regions answer no, like not enrolled."""
    persons = select(Person.id, Person.nik, Person.region_code)
    if question.id_type == "NIK":
        persons = persons.where(Person.nik == question.value)
    else:
        persons = persons.join(Household, Household.id == Person.household_id).where(
            Household.kk == question.value)
    async with engine.connect() as conn:
        found = [row for row in (await conn.execute(persons)).all()
                 if scope.allows(row.region_code)]
        if not found:
            return False
        for row in found:
            event.note("person", row.id, row.nik)
        active = (await conn.execute(select(func.count()).select_from(Enrollment).where(
            Enrollment.person_id.in_([row.id for row in found]),
            Enrollment.program == question.program, Enrollment.status == "ACTIVE"))
        ).scalar_one()
    return active > 0
