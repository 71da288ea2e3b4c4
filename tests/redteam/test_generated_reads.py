"""Generated from the schema and the policy: every query root field a role may use, with
every field under it the role may select, asked about persons outside the client's
regions. No answer may carry a NIK or KK of anyone outside them, whatever path it took.
"""

from __future__ import annotations

import re
from typing import Any

from graphql import (
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    build_client_schema,
    get_introspection_query,
    get_named_type,
    is_leaf_type,
)
from sqlalchemy import select

from hub.access import policy
from hub.access.roles import Role
from hub.db.models import Household, Person, SourceRecord
from tests.redteam.conftest import District, cross_region_task, relocate

IDENTIFIER = re.compile(r"(?<![\d.])\d{16}(?!\d)")  # not the fraction of a float
DEPTH = 3


def _selection(schema: Any, type_: GraphQLObjectType, role: Role, depth: int) -> str:
    parts = []
    for name, field in type_.fields.items():
        if not policy.allows(role, type_.name, name):
            continue
        if any(isinstance(arg.type, GraphQLNonNull) for arg in field.args.values()):
            continue
        named = get_named_type(field.type)
        if is_leaf_type(named):
            parts.append(name)
        elif isinstance(named, GraphQLObjectType) and depth > 0:
            inner = _selection(schema, named, role, depth - 1)
            if inner:
                parts.append(f"{name} {{ {inner} }}")
    return " ".join(parts)


def _literal(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, int):
        return str(value)
    return '"' + str(value).replace('"', "") + '"'


def _arguments(field: Any, target: dict[str, Any]) -> str | None:
    """Arguments aimed at the target; None when a required one cannot be filled."""
    chosen = []
    for name, arg in field.args.items():
        value = target.get(name)
        if value is None:
            if isinstance(arg.type, GraphQLNonNull) and arg.default_value is None:
                return None
            continue
        inner = arg.type.of_type if isinstance(arg.type, GraphQLNonNull) else arg.type
        if isinstance(inner, GraphQLList) and not isinstance(value, list):
            value = [value]
        chosen.append(f"{name}: {_literal(value)}")
    return f"({', '.join(chosen)})" if chosen else ""


async def _outsiders(district: District, scope: str) -> tuple[dict[str, Any], set[str]]:
    """A target person outside `scope`, and every NIK and KK that belongs only there."""
    inside = (Person.region_code == scope) | Person.region_code.like(f"{scope}.%")
    async with district.engine.connect() as conn:
        person = (await conn.execute(
            select(Person.id, Person.nik, Person.name, Person.region_code, Household.kk,
                   Household.id.label("household"))
            .join(Household, Household.id == Person.household_id)
            .where(~inside, Person.nik.is_not(None), Person.region_code.is_not(None))
            .order_by(Person.id).limit(1))).one()
        outside_ids = set((await conn.execute(select(Person.nik).where(~inside))).scalars())
        outside_ids |= set((await conn.execute(select(Household.kk).where(
            ~((Household.village_code == scope)
              | Household.village_code.like(f"{scope}.%"))))).scalars())
        inside_ids = set((await conn.execute(select(Person.nik).where(inside))).scalars())
        records = (await conn.execute(select(SourceRecord.normalized).join(
            Person, Person.id == SourceRecord.person_id).where(inside))).scalars().all()
    for values in records:  # an in-scope person's own records may quote any number
        inside_ids |= set(IDENTIFIER.findall(str(values)))
    kecamatan = ".".join(person.region_code.split(".")[:3])
    target = {"nik": person.nik, "niks": [person.nik], "kk": person.kk, "id": person.id,
              "personId": person.id, "householdId": person.household, "region": kecamatan,
              "code": kecamatan, "name": person.name[:5], "program": "PBI_JKN",
              "first": 50}
    return target, {i for i in outside_ids - inside_ids if i}


async def test_no_read_path_returns_a_person_outside_the_scope(district: District) -> None:
    national = await district.client(Role.NATIONAL)
    schema = build_client_schema(await national.data(get_introspection_query()))
    # A review task pairs a person here with one there, each way round in turn: its
    # record's person moved out (the task keeps the region it was raised in), then its
    # candidate.
    pair = await cross_region_task(district, move="record")
    walked = await _sweep(district, schema)
    async with district.engine.begin() as conn:
        await relocate(conn, pair["moved"], pair["home"])
    await cross_region_task(district, move="candidate")
    walked += await _sweep(district, schema)
    assert walked >= 30  # the schema's read paths were really walked


async def _sweep(district: District, schema: Any) -> int:
    """Every root field each attacker may use, aimed at an outsider and at its own
    regions; returns how many requests were made."""
    query_type = schema.query_type
    assert query_type is not None
    async with district.engine.connect() as conn:
        village = (await conn.execute(select(Person.region_code).where(
            Person.region_code.like(f"{district.here}.%")).limit(1))).scalar_one()
    attackers = {
        Role.DISTRICT: ((district.here,), None, district.here),
        Role.FACILITATOR: ((village,), None, village),
        Role.AGENCY: ((district.here,), "bpjs", district.here),
    }
    walked = 0
    for role, (regions, agency, scope) in attackers.items():
        client = await district.client(role, regions, agency)
        target, forbidden = await _outsiders(district, scope)
        assert target["nik"] in forbidden
        for name, field in query_type.fields.items():
            if not policy.allows(role, "Query", name):
                continue
            # Aimed at the outsider, and listing the client's own regions (where a
            # pair, a finding or a case may still name someone from outside).
            own = {**target, "region": scope, "code": scope, "nik": None, "niks": None,
                   "kk": None, "id": None, "personId": None, "householdId": None}
            for aim in (target, own):
                arguments = _arguments(field, aim)
                if arguments is None:
                    continue
                named = get_named_type(field.type)
                selection = "" if is_leaf_type(named) else \
                    f"{{ {_selection(schema, named, role, DEPTH)} }}"
                query = f"{{ {name}{arguments} {selection} }}"
                response = await client.post(query)
                assert response.status_code in (200, 400), (role, query, response.text)
                leaked = set(IDENTIFIER.findall(response.text)) & forbidden
                assert not leaked, (role, name, sorted(leaked)[:3], response.text[:500])
                walked += 1
    return walked
