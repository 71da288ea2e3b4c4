"""Eligibility over GraphQL, as partners and offices run it: decisions that match the
registry's facts, per-item answers in a batch, masked NIKs and the partner's limits."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.access.documents import DocumentStore
from hub.access.roles import Role
from hub.db.models import Enrollment, Household, Person
from tests.access.conftest import Hub, people_in
from tests.access.test_api import HERE, THERE

DOCUMENTS = Path(__file__).parents[2] / "config" / "documents"


async def _registered(engine: AsyncEngine, name: str) -> str:
    text = (DOCUMENTS / f"{name}.graphql").read_text()
    return "sha256:" + (await DocumentStore(engine).register(text)).hash


async def _expected_pbi(engine: AsyncEngine, district: str) -> dict[str, str]:
    """PBI-JKN decisions worked out from the tables, independently of the rule engine."""
    async with engine.connect() as conn:
        rows = (await conn.execute(
            select(Person.id, Person.nik, Person.alive, Household.desil)
            .outerjoin(Household, Household.id == Person.household_id)
            .where(Person.region_code.like(f"{district}.%"), Person.nik.is_not(None))
            .order_by(Person.id).limit(60))).all()
        covered = set((await conn.execute(select(Enrollment.person_id).where(and_(
            Enrollment.program.in_(["PBI_JKN", "JKN"]), Enrollment.status == "ACTIVE")))
                       ).scalars())
    expected = {}
    for row in rows:
        if not row.alive or (row.desil is not None and row.desil > 4) or row.id in covered:
            expected[row.nik] = "NOT_ELIGIBLE"
        elif row.desil is None:
            expected[row.nik] = "NEEDS_VERIFICATION"
        else:
            expected[row.nik] = "ELIGIBLE"
    return expected


async def test_a_partner_batch_answers_each_nik_in_order_masked(hub: Hub) -> None:
    partner = await hub.client(Role.PARTNER, (HERE,))
    document = await _registered(hub.engine, "eligibility_batch")
    expected = await _expected_pbi(hub.engine, HERE)
    theirs, = await people_in(hub.engine, THERE, 1)
    mine = list(expected)
    niks = [*mine, theirs.nik, "3314015208859999", "12345", mine[0]]
    response = await partner.http.post("/graphql", json={
        "documentId": document, "variables": {"niks": niks, "program": "PBI_JKN"}})
    assert response.status_code == 200, response.text
    items = response.json()["data"]["eligibilityBatch"]
    assert [item["index"] for item in items] == list(range(len(niks)))
    decided = {niks[i["index"]]: i["decision"] for i in items[:len(mine)]}
    assert decided == expected
    assert set(expected.values()) >= {"ELIGIBLE", "NOT_ELIGIBLE"}  # a real mix
    for item, nik in zip(items, niks, strict=True):
        assert "nik" not in item
        if len(nik) == 16:
            assert item["maskedNik"] == nik[:4] + "********" + nik[12:]
    out_of_region, unknown, invalid, again = items[len(mine):]
    assert out_of_region["status"] == unknown["status"] == "NOT_FOUND"
    assert out_of_region["decision"] is None
    assert out_of_region["reasons"] == []
    assert invalid["status"] == "INVALID_NIK"
    assert "has 5 digits" in invalid["problem"]
    assert again["decision"] == items[0]["decision"]
    for item in items[:len(mine)]:
        assert item["reasons"]
        assert item["desilBand"] in (None, "1-2", "3-4", "5-6", "7-8", "9-10")

    # Nothing else: the full NIK, a person, a raw query.
    nosy = await DocumentStore(hub.engine).register(
        "query Nosy($n: [String!]!) { eligibilityBatch(niks: $n, program: \"PBI_JKN\") "
        "{ nik } }")
    refused = await partner.http.post("/graphql", json={
        "documentId": f"sha256:{nosy.hash}", "variables": {"n": mine[:1]}})
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_batches_and_programmes_are_checked(hub: Hub) -> None:
    district = await hub.client(Role.DISTRICT, ("33.14",))
    batch = "query($n: [String!]!, $p: String!) { eligibilityBatch(niks: $n, program: $p) " \
            "{ nik decision } }"
    errors = await district.errors(batch, n=["3314015208850001"], p="BANSOS_X")
    assert errors[0]["extensions"]["argument"] == "program"
    assert "PBI_JKN" in errors[0]["message"]
    hub.settings.eligibility.max_batch = 3
    try:
        errors = await district.errors(batch, n=["3314015208850001"] * 4, p="PBI_JKN")
    finally:
        hub.settings.eligibility.max_batch = 10_000
    assert "at most 3" in errors[0]["message"]
    mine, = await people_in(hub.engine, HERE, 1)
    one = await district.data("query($n: String!) { eligibility(nik: $n, program: "
                              "\"KIP_PIP\") { nik status decision reasons { code } } }",
                              n=mine.nik)
    assert one["eligibility"]["nik"] == mine.nik
    assert one["eligibility"]["status"] == "FOUND"
    bad = await district.errors("{ eligibility(nik: \"123\", program: \"PBI_JKN\") "
                                "{ decision } }")
    assert bad[0]["extensions"]["code"] == "BAD_USER_INPUT"
    programs = await district.data("{ eligibilityPrograms { name description } }")
    assert {"PBI_JKN", "KIP_PIP"} <= {p["name"] for p in programs["eligibilityPrograms"]}


async def test_a_partner_check_is_audited_with_the_persons_found(hub: Hub) -> None:
    partner = await hub.client(Role.PARTNER, (HERE,))
    document = await _registered(hub.engine, "eligibility")
    mine, = await people_in(hub.engine, HERE, 1)
    await partner.http.post("/graphql", json={
        "documentId": document, "variables": {"nik": mine.nik, "program": "BAZNAS_ZAKAT"}},
        headers={"x-purpose": "penyaluran zakat fakir miskin"})
    await hub.flush_audit()
    from hub.access import audit

    accesses = [a for a in await audit.trail(hub.engine, mine.nik)
                if a["client"] == partner.name]
    assert len(accesses) == 1
    assert accesses[0]["purpose"] == "penyaluran zakat fakir miskin"
    assert "EligibilityResult.decision" in accesses[0]["fields"]



async def test_a_batch_read_in_parts_answers_as_one_statement(
        loaded_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch's persons are read in statements run at once (PostgreSQL): the rows are
    one statement's, a NIK two persons claim goes to the lower id in either way, and on
    PostgreSQL there were as many statements as parts."""
    from sqlalchemy import delete, insert

    from hub.services import eligibility

    monkeypatch.setattr(eligibility, "_MIN_PART", 5)  # parts of a small district
    async with loaded_engine.connect() as conn:
        rows = (await conn.execute(select(Person.id, Person.nik).where(
            Person.nik.is_not(None)).order_by(Person.nik))).all()
    niks = [row.nik for row in rows]
    claimed = rows[len(rows) // 2]  # in the middle: not at a cut by chance alone
    async with loaded_engine.begin() as conn:
        twin = (await conn.execute(insert(Person).values(
            nik=claimed.nik, name="Kembar Data", name_normalized="kembar data",
            alive=False).returning(Person.id))).scalar_one()
    read = eligibility._person_rows
    statements: list[int] = []

    async def counted(engine: AsyncEngine, wanted: list[str]) -> list[tuple]:
        statements.append(len(wanted))
        return await read(engine, wanted)

    try:
        whole = await eligibility._persons(loaded_engine, niks, parts=1)
        monkeypatch.setattr(eligibility, "_person_rows", counted)
        parted = await eligibility._persons(loaded_engine, niks, parts=4)
    finally:
        async with loaded_engine.begin() as conn:
            await conn.execute(delete(Person).where(Person.id == twin))
    assert parted == whole
    assert set(whole) == set(niks)
    assert twin > claimed.id
    assert whole[claimed.nik][0] == claimed.id
    parts = 4 if loaded_engine.dialect.name == "postgresql" else 1
    assert len(statements) == parts
    assert sum(statements) == len(niks)


async def test_household_birth_dates_are_the_living_members(loaded_engine: AsyncEngine
                                                             ) -> None:
    """The facts of a composition rule (a child under 5, an elderly member): each
    household's living members' birth dates, worked out here from the table itself."""
    from collections import defaultdict
    from datetime import date

    from hub.config import HubSettings
    from hub.domain.eligibility import evaluate
    from hub.services.eligibility import Subject, _household_birth_dates, check, rule_of

    async with loaded_engine.connect() as conn:
        rows = (await conn.execute(select(
            Person.nik, Person.household_id, Person.birth_date, Person.alive,
            Person.region_code, Person.relation, Household.desil)
            .outerjoin(Household, Household.id == Person.household_id))).all()
        active = defaultdict(set)
        for person, program in (await conn.execute(
                select(Person.nik, Enrollment.program).join(
                    Enrollment, Enrollment.person_id == Person.id)
                .where(Enrollment.status == "ACTIVE"))).all():
            active[person].add(program)
    expected: dict[int, list] = defaultdict(list)
    for row in rows:
        if row.household_id is not None and row.alive:
            expected[row.household_id].append(row.birth_date)
    households = sorted({row.household_id for row in rows if row.household_id is not None})
    got = await _household_birth_dates(loaded_engine, households)
    assert {h: sorted(map(str, dates)) for h, dates in got.items()} == \
        {h: sorted(map(str, dates)) for h, dates in expected.items()}
    assert any(len(dates) > 2 for dates in got.values())

    # And through a whole check: the toddler programme's decisions are those the rule
    # gives on these facts.
    today = date(2026, 12, 8)
    rule = rule_of("CSR_GIZI_BALITA", HubSettings().eligibility.programs["CSR_GIZI_BALITA"])
    assert rule.household_member_under is not None
    mine = [row for row in rows if row.nik and row.region_code.startswith(HERE + ".")]
    from hub.access.roles import RegionScope

    answers = await check(loaded_engine, rule, [row.nik for row in mine],
                          RegionScope(regions=(HERE,)), today, parts=2)
    by_nik = {row.nik: row for row in mine}
    decisions = set()
    for item in answers:
        row = by_nik[item.nik]
        subject = Subject(alive=bool(row.alive), birth_date=row.birth_date, desil=row.desil,
                          region_code=row.region_code, relation=row.relation,
                          active_programs=frozenset(active[row.nik]),
                          household_birth_dates=tuple(expected.get(row.household_id, ())))
        assert item.outcome == evaluate(rule, subject, today), row.nik
        decisions.add(item.outcome.decision)
    assert len(decisions) >= 2
