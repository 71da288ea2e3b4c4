"""Generated from the schema: every mutation a one-kecamatan DISTRICT may call (which is
every mutation), with every id argument aimed at an object outside its regions (a
person, a record, a review task, a finding, a case, a referral) alone and beside ids of
its own. Whatever each call answers, nothing outside its regions may change, and no call
may fail with an unexpected fault."""

from __future__ import annotations

import hashlib
import itertools
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    build_client_schema,
    get_introspection_query,
    get_named_type,
)
from sqlalchemy import or_, select

from hub.access.roles import Role
from hub.db.models import (
    Enrollment,
    Finding,
    LinkDecision,
    Person,
    Referral,
    ReviewTask,
    ServiceCase,
    SourceRecord,
)
from tests.redteam.conftest import District

ID_KINDS = {"recordId": ("record",), "recordIds": ("record",), "personId": ("person",),
            "keep": ("person",), "merge": ("person",), "caseId": ("case",)}
ALL_KINDS = ("person", "record", "task", "finding", "case", "referral")


async def _ids(district: District, region: str) -> dict[str, list[int]]:
    """A few ids of each kind of object whose person lives under `region`."""
    inside = Person.region_code.like(f"{region}.%")
    async with district.engine.connect() as conn:
        persons = list((await conn.execute(select(Person.id).where(inside)
                                           .order_by(Person.id).limit(3))).scalars())
        records = list((await conn.execute(select(SourceRecord.id).join(
            Person, Person.id == SourceRecord.person_id).where(inside)
            .order_by(SourceRecord.id).limit(3))).scalars())
        tasks = list((await conn.execute(select(ReviewTask.id).join(
            Person, Person.id == ReviewTask.candidate_person_id).where(inside)
            .order_by(ReviewTask.id).limit(3))).scalars())
        findings = list((await conn.execute(select(Finding.id).where(
            Finding.region_code.like(f"{region}.%")).order_by(Finding.id).limit(3)))
            .scalars())
        cases = list((await conn.execute(select(ServiceCase.id).where(
            ServiceCase.region_code.like(f"{region}.%")).limit(3))).scalars())
        referrals = list((await conn.execute(select(Referral.id).where(
            Referral.region_code.like(f"{region}.%")).limit(3))).scalars())
    return {"person": persons, "record": records, "task": tasks, "finding": findings,
            "case": cases, "referral": referrals}


async def _digest(district: District, region: str) -> str:
    """Everything of `region` a mutation could change."""
    inside = Person.region_code.like(f"{region}.%")
    persons = select(Person.id).where(inside)
    digest = hashlib.sha256()
    async with district.engine.connect() as conn:
        for statement in (
            select(Person.id, Person.nik, Person.name, Person.region_code,
                   Person.household_id).where(inside).order_by(Person.id),
            select(SourceRecord.id, SourceRecord.person_id, SourceRecord.link_method,
                   SourceRecord.link_locked).where(SourceRecord.person_id.in_(persons))
            .order_by(SourceRecord.id),
            select(ReviewTask.id, ReviewTask.status).where(or_(
                ReviewTask.candidate_person_id.in_(persons),
                ReviewTask.record_id.in_(select(SourceRecord.id).where(
                    SourceRecord.person_id.in_(persons))))).order_by(ReviewTask.id),
            select(Finding.id, Finding.status, Finding.resolved_reason).where(
                Finding.region_code.like(f"{region}.%")).order_by(Finding.id),
            select(Enrollment.person_id, Enrollment.program, Enrollment.status).where(
                Enrollment.person_id.in_(persons)).order_by(Enrollment.person_id,
                                                            Enrollment.program),
            select(ServiceCase.id, ServiceCase.status, ServiceCase.first_response_at).where(
                ServiceCase.region_code.like(f"{region}.%")).order_by(ServiceCase.id),
            select(Referral.id, Referral.status, Referral.notes).where(
                Referral.region_code.like(f"{region}.%")).order_by(Referral.id),
            select(LinkDecision.record_id, LinkDecision.person_id).where(
                LinkDecision.person_id.in_(persons)).order_by(LinkDecision.record_id),
        ):
            for row in (await conn.execute(statement)).all():
                digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, _Enum):
        return value.name
    return '"' + str(value) + '"'


class _Enum:
    def __init__(self, name: str) -> None:
        self.name = name


def _value(name: str, type_: Any, ids: dict[str, Any], texts: dict[str, str]) -> Any:
    """A value for an argument or input field: ids from `ids` by the argument's name,
    texts aimed at the outsider, the first value of an enum."""
    nullable = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    if isinstance(nullable, GraphQLList):
        return [_value(name, nullable.of_type, ids, texts)]
    named = get_named_type(type_)
    if isinstance(named, GraphQLEnumType):
        return _Enum(next(iter(named.values)))
    if isinstance(named, GraphQLInputObjectType):
        return {field: _value(field, spec.type, ids, texts)
                for field, spec in named.fields.items()
                if isinstance(spec.type, GraphQLNonNull) or field in texts or field in ids}
    assert isinstance(named, GraphQLScalarType)
    if named.name == "ID":
        return ids.get(name, ids["id"])
    if named.name == "Int":
        return 1
    if named.name == "Boolean":
        return name == "newPerson"
    return texts.get(name, "red team")


async def test_no_mutation_changes_anything_outside_the_scope(district: District) -> None:
    # Something of every kind over there: a case with a referral, raised by its own office.
    owner = await district.client(Role.DISTRICT, (district.there,))
    async with district.engine.connect() as conn:
        target = (await conn.execute(select(Person.id, Person.nik, Person.region_code)
                                     .where(Person.region_code.like(f"{district.there}.%"),
                                            Person.nik.is_not(None)).limit(1))).one()
    case = (await owner.data('mutation($n: String!) { registerCase(case: {kind: COMPLAINT, '
                             'category: HEALTH, channel: WALK_IN, urgency: NORMAL, '
                             'description: "KIS", nik: $n}) { id } }', n=target.nik)
            )["registerCase"]
    await owner.data('mutation($c: ID!) { recommendReferral(caseId: $c, service: "KIS_PBI") '
                     '{ id } }', c=case["id"])
    theirs, mine = await _ids(district, district.there), await _ids(district, district.here)
    assert all(theirs[kind] for kind in ("person", "record", "case", "referral")), theirs
    texts = {"nik": target.nik, "villageCode": target.region_code, "service": "KIS_PBI",
             "reason": "red team", "connector": "dukcapil"}

    national = await district.client(Role.NATIONAL)
    schema = build_client_schema(await national.data(get_introspection_query()))
    assert schema.mutation_type is not None
    attacker = await district.client(Role.DISTRICT, (district.here,))
    before = await _digest(district, district.there)
    calls, faults = 0, []
    for name, field in schema.mutation_type.fields.items():
        id_args = [a for a, spec in field.args.items()
                   if get_named_type(spec.type).name == "ID"]
        for attacked, kind in itertools.chain(
                ((a, k) for a in id_args for k in ID_KINDS.get(a, ALL_KINDS)),
                [(None, k) for k in ALL_KINDS]):
            for their_id in theirs[kind][:1]:
                ids = {"id": their_id}
                for arg in id_args:
                    own_kind = ID_KINDS.get(arg, (kind,))[0]
                    own = mine[own_kind][:1] or [1]
                    ids[arg] = their_id if attacked in (None, arg) else own[0]
                ids.setdefault("personId", theirs["person"][0])
                arguments = ", ".join(
                    f"{arg}: {_literal(_value(arg, spec.type, ids, texts))}"
                    for arg, spec in field.args.items()
                    if isinstance(spec.type, GraphQLNonNull) or arg in ids or arg in texts)
                leaf = isinstance(get_named_type(field.type), GraphQLScalarType | GraphQLEnumType)
                selection = "" if leaf else "{ __typename }"
                query = f"mutation {{ {name}{f'({arguments})' if arguments else ''} {selection} }}"
                response = await attacker.post(query)
                calls += 1
                body = response.json()
                if response.status_code >= 500 or any(
                        e.get("extensions", {}).get("code") == "INTERNAL_SERVER_ERROR"
                        for e in body.get("errors", ())):
                    faults.append((query, body))
    assert not faults, faults[:3]
    assert calls > 100
    assert await _digest(district, district.there) == before, \
        "a mutation by a client of another kecamatan changed data here"
