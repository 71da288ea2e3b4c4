"""Role x field x region over HTTP: who may call, what each role may read, which rows
it sees on every path, and the limits that keep the API safe."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.access.clients import ClientStore
from hub.access.documents import DocumentStore, document_hash
from hub.access.roles import Role
from hub.db.models import Enrollment, Household, Person
from hub.sync.findings import agency_of
from tests.access.conftest import Hub, people_in
from tests.schema.helpers import GRAPHQL_RESPONSE, GraphQLClient

HERE, THERE = "33.14.05", "33.14.04"  # two kecamatan of the test district
PERSON = """query($nik: String!) { person(nik: $nik) { name nik household { kk } } }"""


async def test_requests_need_a_valid_key(hub: Hub) -> None:
    anonymous = GraphQLClient(hub.app)
    hub.clients.append(anonymous)
    page = await anonymous.http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()
    response = await anonymous.post("{ regencies { code } }")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "data" not in response.json()
    for bad in ("nonsense", "slrt_0123456789ab_forged", "Basic dXNlcjpwYXNz"):
        response = await anonymous.post("{ regencies { code } }", authorization=f"Bearer {bad}")
        assert response.status_code == 401, bad

    district = await hub.client(Role.DISTRICT, (HERE,))
    assert (await district.post("{ regencies { code } }")).status_code == 200
    store = ClientStore(hub.engine)
    new_key = await store.rotate(district.name)
    hub.app.state.clients._cache.clear()  # this replica's cache; others wait it out
    assert (await district.post("{ regencies { code } }")).status_code == 401
    rotated = GraphQLClient(hub.app, new_key)
    hub.clients.append(rotated)
    assert (await rotated.post("{ regencies { code } }")).status_code == 200
    await store.revoke(district.name)
    hub.app.state.clients._cache.clear()
    assert (await rotated.post("{ regencies { code } }")).status_code == 401


async def test_a_district_sees_only_its_own_region(hub: Hub) -> None:
    district = await hub.client(Role.DISTRICT, (HERE,))
    national = await hub.client(Role.NATIONAL)
    mine, = await people_in(hub.engine, HERE, 1)
    theirs, = await people_in(hub.engine, THERE, 1)

    assert (await district.data(PERSON, nik=mine.nik))["person"]["nik"] == mine.nik
    assert (await district.data(PERSON, nik=theirs.nik))["person"] is None
    assert (await national.data(PERSON, nik=theirs.nik))["person"]["nik"] == theirs.nik
    household = "query($kk: String!) { household(kk: $kk) { kk members { nik } } }"
    assert (await district.data(household, kk=theirs.kk))["household"] is None
    assert (await district.data(household, kk=mine.kk))["household"]["kk"] == mine.kk

    page = """query($r: String!) { households(region: $r, first: 500) {
        totalCount edges { node { villageCode members { nik } } } } }"""
    seen = (await district.data(page, r="33.14"))["households"]
    async with hub.engine.connect() as conn:
        own = (await conn.execute(select(func.count()).select_from(Household).where(
            Household.village_code.like(f"{HERE}.%")))).scalar_one()
    assert seen["totalCount"] == len(seen["edges"]) == own > 0
    assert all(e["node"]["villageCode"].startswith(HERE + ".") for e in seen["edges"])
    assert (await district.data(page, r=THERE))["households"]["totalCount"] == 0
    nested = """{ region(code: "33") { households(first: 500) { totalCount
        edges { node { members { nik } } } } } }"""
    through_region = (await district.data(nested))["region"]["households"]
    assert through_region["totalCount"] == own
    shown = {m["nik"] for e in through_region["edges"] for m in e["node"]["members"]}
    async with hub.engine.connect() as conn:
        theirs_all = set((await conn.execute(select(Person.nik).where(
            Person.region_code.not_like(f"{HERE}.%")))).scalars())
    assert shown
    assert not shown & theirs_all

    stats = """query($r: String!) { region(code: $r) { statistics { households persons
        coverage { program enrolledPersons } } } }"""
    asked_wide = (await district.data(stats, r="33"))["region"]["statistics"]
    own_stats = (await national.data(stats, r=HERE))["region"]["statistics"]
    assert asked_wide == own_stats
    assert asked_wide["households"] == own
    assert (await district.data(stats, r=THERE))["region"]["statistics"]["persons"] == 0
    assert (await district.data("{ regencies { code } }"))["regencies"] == [{"code": "33.14"}]

    elsewhere = await hub.client(Role.DISTRICT, ("35.01",))
    assert (await elsewhere.data("{ regencies { code } }"))["regencies"] == []
    assert (await elsewhere.data(stats, r="33.14"))["region"]["statistics"]["households"] == 0


async def test_a_facilitator_reads_persons_in_its_villages_only(hub: Hub) -> None:
    mine, = await people_in(hub.engine, HERE, 1)
    village = mine.region_code
    facilitator = await hub.client(Role.FACILITATOR, (village,))
    data = await facilitator.data("""query($nik: String!) { person(nik: $nik) { name
        enrollments { program } household { kk address desil members { name } } } }""",
                                  nik=mine.nik)
    assert data["person"]["household"]["kk"] == mine.kk
    theirs, = await people_in(hub.engine, THERE, 1)
    assert (await facilitator.data(PERSON, nik=theirs.nik))["person"] is None


@pytest.mark.parametrize(("role", "query", "field"), [
    (Role.FACILITATOR, '{ person(nik: "3314015208850003") { lineage { field } } }',
     "Person.lineage"),
    (Role.FACILITATOR, "{ findings { edges { cursor } } }", "Query.findings"),
    (Role.FACILITATOR, 'mutation { triggerSync { id } }', "Mutation.triggerSync"),
    (Role.AGENCY, '{ person(nik: "3314015208850003") { household { kk } } }',
     "Person.household"),
    (Role.AGENCY, '{ households(region: "33.14") { totalCount } }', "Query.households"),
    (Role.AGENCY, '{ region(code: "33.14") { statistics { persons } } }',
     "Region.statistics"),
    (Role.NATIONAL, 'mutation { mergePersons(keep: "1", merge: "2") { id } }',
     "Mutation.mergePersons"),
    (Role.NATIONAL, "mutation { triggerSync { id } }", "Mutation.triggerSync"),
])
async def test_fields_outside_the_role_are_refused_by_name(hub: Hub, role: Role, query: str,
                                                           field: str) -> None:
    client = await hub.client(role, () if role is Role.NATIONAL else ("33.14",),
                              "bpjs" if role is Role.AGENCY else None)
    response = await client.post(query)
    assert response.status_code == 400
    body = response.json()
    assert "data" not in body
    error = next(e for e in body["errors"] if e["extensions"].get("field") == field)
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert role.value in error["message"]
    assert field in error["message"]


async def test_an_agency_sees_only_its_own_programme(hub: Hub) -> None:
    async with hub.engine.connect() as conn:
        sources = func.count(func.distinct(Enrollment.source))
        person_id = (await conn.execute(select(Enrollment.person_id).group_by(
            Enrollment.person_id).having(sources > 1).limit(1))).scalar_one()
        nik = (await conn.execute(select(Person.nik).where(Person.id == person_id))
               ).scalar_one()
    query = """query($nik: String!) { person(nik: $nik) { nik name
        enrollments { program source } } }"""
    everything = (await (await hub.client(Role.NATIONAL)).data(query, nik=nik))["person"]
    agencies = {agency_of(e["source"]) for e in everything["enrollments"]}
    assert len(agencies) > 1
    for agency in agencies:
        client = await hub.client(Role.AGENCY, ("33.14",), agency)
        seen = (await client.data(query, nik=nik))["person"]
        assert seen["nik"] == nik
        assert seen["enrollments"] == [e for e in everything["enrollments"]
                                       if agency_of(e["source"]) == agency]


async def test_partners_run_only_trusted_documents(hub: Hub) -> None:
    partner = await hub.client(Role.PARTNER, ("33.14",))
    ping = "query Ping { __typename }"
    refused = await partner.post(ping)
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["extensions"]["code"] == "TRUSTED_DOCUMENT_REQUIRED"

    digest = (await DocumentStore(hub.engine).register(ping)).hash
    assert digest == document_hash(ping)
    headers = {"accept": GRAPHQL_RESPONSE}
    by_id = await partner.http.post("/graphql", json={"documentId": f"sha256:{digest}"},
                                    headers=headers)
    assert by_id.status_code == 200
    assert by_id.json()["data"] == {"__typename": "Query"}
    apq = await partner.http.post("/graphql", headers=headers, json={"extensions": {
        "persistedQuery": {"version": 1, "sha256Hash": digest}}})
    assert apq.json()["data"] == {"__typename": "Query"}
    assert (await partner.post(ping)).status_code == 200  # the registered text itself
    unknown = await partner.http.post("/graphql", json={"documentId": "sha256:" + "0" * 64},
                                      headers=headers)
    assert unknown.status_code == 404
    mismatch = await partner.http.post("/graphql", headers=headers, json={
        "documentId": f"sha256:{digest}", "query": "{ __typename __typename }"})
    assert mismatch.status_code == 400
    malformed = await partner.http.post("/graphql", json={"documentId": "md5:abc"},
                                        headers=headers)
    assert malformed.status_code == 400

    # A trusted document still cannot take a partner past its role.
    nosy = await DocumentStore(hub.engine).register(
        'query Nosy { person(nik: "3314015208850003") { name } }')
    response = await partner.http.post("/graphql", json={"documentId": f"sha256:{nosy.hash}"},
                                       headers=headers)
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_introspection_follows_the_setting_and_the_role(
        hub: Hub, settings_for, loaded_engine: AsyncEngine) -> None:
    schema_query = "{ __schema { queryType { name } } }"
    national = await hub.client(Role.NATIONAL)
    assert (await national.data(schema_query))["__schema"]["queryType"]["name"] == "Query"
    partner = await hub.client(Role.PARTNER, ("33.14",))
    digest = (await DocumentStore(hub.engine).register(schema_query)).hash
    response = await partner.http.post("/graphql", json={"documentId": f"sha256:{digest}"})
    assert "introspection" in response.json()["errors"][0]["message"]

    from tests.access.conftest import open_hub

    closed = await open_hub(settings_for.model_copy(update={"access": settings_for.access
                            .model_copy(update={"introspection": False})}), loaded_engine)
    try:
        client = await closed.client(Role.NATIONAL)
        errors = await client.errors(schema_query)
        assert "introspection" in errors[0]["message"]
        assert errors[0]["extensions"]["code"] == "FORBIDDEN"
        assert (await client.data("{ __typename }")) == {"__typename": "Query"}
    finally:
        await closed.close()


async def test_limits_refuse_abusive_documents_with_a_clear_code(hub: Hub) -> None:
    client = await hub.client(Role.NATIONAL)
    inner = "name"
    for _ in range(5):
        inner = f"household {{ members {{ {inner} }} }}"
    deep = f'{{ person(nik: "3314015208850003") {{ {inner} }} }}'
    errors = await client.errors(deep)
    assert errors[0]["extensions"]["code"] == "DEPTH_LIMIT"
    assert "12 levels" in errors[0]["message"]  # person, 5 x (household, members), name

    aliases = "{ " + " ".join(f"a{i}: __typename" for i in range(31)) + " }"
    assert (await client.errors(aliases))[0]["extensions"]["code"] == "ALIAS_LIMIT"

    tokens = "{ " + " ".join(["__typename"] * 6000) + " }"
    assert "tokens" in (await client.errors(tokens))[0]["message"]

    heavy = """{ households(region: "33.14", first: 500) { edges { node {
        members { enrollments { program } household { members { name } } } } } } }"""
    response = await client.post(heavy)
    assert response.status_code == 400
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "COST_LIMIT"
    assert body["extensions"]["cost"]["requested"] > body["extensions"]["cost"]["maximum"]

    light = await client.post('{ households(region: "33.14", first: 2) { totalCount } }')
    assert light.json()["extensions"]["cost"] == {"requested": 2, "maximum": 50_000}

    big = {"query": "{ __typename }", "variables": {"pad": "x" * 1_100_000}}
    too_big = await client.http.post("/graphql", content=json.dumps(big),
                                     headers={"content-type": "application/json"})
    assert too_big.status_code == 413


async def test_a_client_over_its_rate_gets_429(hub: Hub) -> None:
    _, key = await ClientStore(hub.engine).create(
        "slow-partner-system", Role.DISTRICT, regions=["33.14"], legal_basis="consent",
        purpose="tests", rate_per_minute=2)
    client = GraphQLClient(hub.app, key)
    hub.clients.append(client)
    statuses = [(await client.post("{ __typename }")).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    limited = await client.post("{ __typename }")
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"


async def test_registration_requires_legal_basis_purpose_and_region(hub: Hub) -> None:
    from hub.access.clients import ClientError

    store = ClientStore(hub.engine)
    cases = [
        ({"role": Role.DISTRICT, "regions": ["33.14"], "legal_basis": " ", "purpose": "p"},
         "legal basis"),
        ({"role": Role.DISTRICT, "regions": ["33.14"], "legal_basis": "b", "purpose": ""},
         "purpose"),
        ({"role": Role.DISTRICT, "regions": [], "legal_basis": "b", "purpose": "p"},
         "region"),
        ({"role": Role.AGENCY, "regions": ["33.14"], "legal_basis": "b", "purpose": "p"},
         "--agency"),
        ({"role": Role.DISTRICT, "regions": ["33-14"], "legal_basis": "b", "purpose": "p"},
         "bad region"),
    ]
    for options, message in cases:
        with pytest.raises(ClientError, match=message):
            await store.create("never-made", **options)
