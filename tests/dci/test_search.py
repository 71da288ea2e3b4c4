"""DCI social registry sync search: each query type, pagination edges, bad envelopes,
duplicate message ids, time zones, locales; every request and reply checked against the
DCI social registry specification."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, select

from hub.access.roles import Role
from hub.db.models import AuditLog, Enrollment, Household, Person
from tests.access.conftest import Hub, people_in
from tests.dci.spec import request_problems, response_problems
from tests.schema.helpers import GraphQLClient, register

SEARCH = "/registry/sync/search"
URL = "/dci" + SEARCH


def envelope(*items: dict[str, Any], total: int | None = None, **header: Any) -> dict:
    return {
        "header": {"version": "1.0.0", "message_id": uuid.uuid4().hex,
                   "message_ts": datetime.now(UTC).isoformat(), "action": "search",
                   "sender_id": "kemensos.example", "receiver_id": "slrt-hub",
                   "total_count": len(items) if total is None else total,
                   "is_msg_encrypted": False, **header},
        "message": {"transaction_id": uuid.uuid4().hex[:20], "search_request": list(items)},
    }


def item(query_type: str, query: Any, **criteria: Any) -> dict:
    return {"reference_id": uuid.uuid4().hex[:12], "timestamp": datetime.now(UTC).isoformat(),
            "search_criteria": {"version": "1.0.0", "reg_type": "ns:org:RegistryType:Social",
                                "query_type": query_type, "query": query, **criteria}}


async def _client(hub: Hub, role: Role = Role.NATIONAL, regions=()) -> GraphQLClient:
    _, key = await register(hub.engine, role, regions)
    client = GraphQLClient(hub.app, key)
    hub.clients.append(client)
    return client


def _spec_view(body: dict) -> dict:
    """The request as the spec can check it: its attribute_value is a oneOf of string,
    integer and number, which an integer matches twice (a known defect of the spec),
    so numbers are checked as strings."""
    copy = json.loads(json.dumps(body))
    for request in copy["message"]["search_request"]:
        query = request.get("search_criteria", {}).get("query")
        for term in query if isinstance(query, list) else ():
            for side in ("expression1", "expression2"):
                expression = term.get(side)
                if isinstance(expression, dict) and isinstance(
                        expression.get("attribute_value"), int | float):
                    expression["attribute_value"] = str(expression["attribute_value"])
    return copy


async def _search(client: GraphQLClient, body: dict, status: int = 200,
                  valid: bool = True) -> dict:
    if valid:  # what the tests send as a partner would is itself checked
        assert request_problems("social", SEARCH, _spec_view(body)) == []
    response = await client.http.post(URL, json=body)
    assert response.status_code == status, response.text
    reply = response.json()
    assert response_problems("social", SEARCH, reply) == [], reply
    return reply


async def test_search_by_nik_and_kk_returns_the_family_as_a_group(hub: Hub) -> None:
    client = await _client(hub)
    person, = await people_in(hub.engine, "33.14.05", 1)
    reply = await _search(client, envelope(
        item("idtype-value", {"type": "NIK", "value": person.nik}),
        item("idtype-value", {"type": "ns:id:KK", "value": person.kk},
             response_entity="Group"),
        item("idtype-value", {"type": "NIK", "value": person.nik}, response_entity="Member"),
        item("idtype-value", {"type": "NIK", "value": "3314015208859999"})))
    header = reply["header"]
    assert header["status"] == "succ"
    assert header["action"] == "on-search"
    assert header["completed_count"] == 4
    by_nik, by_kk, member, unknown = reply["message"]["search_response"]
    assert by_nik["status"] == "succ"
    family = by_nik["data"]["reg_records"][0]
    assert family["group_identifier"][0] == {"@type": "Identifier", "identifier_type": "KK",
                                             "identifier_value": person.kk}
    niks = {m["member_identifier"][0]["identifier_value"] for m in family["member_list"]
            if m["member_identifier"]}
    assert person.nik in niks
    assert family["group_size"] == len(family["member_list"])
    assert by_kk["data"]["reg_records"] == by_nik["data"]["reg_records"]
    assert member["data"]["reg_records"][0]["demographic_info"]["name"]["given_name"] == \
        person.name
    assert unknown["status"] == "succ"
    assert unknown["pagination"]["total_count"] == 0


async def test_predicates_match_the_registry(hub: Hub) -> None:
    client = await _client(hub)
    query = [{"seq_num": 1, "expression1": {"attribute_name": "desil", "operator": "le",
                                            "attribute_value": 2}},
             {"seq_num": 2, "expression1": {"attribute_name": "region_code", "operator": "eq",
                                            "attribute_value": "33.14.05"}}]
    reply = await _search(client, envelope(item("predicate", query,
                                                pagination={"page_size": 5,
                                                            "page_number": 1})))
    answer = reply["message"]["search_response"][0]
    async with hub.engine.connect() as conn:
        expected = (await conn.execute(select(func.count()).select_from(Household).where(
            Household.desil <= 2, Household.village_code.like("33.14.05.%")))).scalar_one()
    assert answer["pagination"] == {"page_size": 5, "page_number": 1, "total_count": expected}
    assert len(answer["data"]["reg_records"]) == min(5, expected)
    assert all(g["poverty_score"] <= 2 and g["place"]["region_code"].startswith("33.14.05.")
               for g in answer["data"]["reg_records"])

    # Members: women aged 60 and over, not on PBI-JKN.
    elderly = [{"expression1": {"attribute_name": "sex", "operator": "eq",
                                "attribute_value": "female"},
                "condition": "and",
                "expression2": {"attribute_name": "age", "operator": "ge",
                                "attribute_value": 60}},
               {"expression1": {"attribute_name": "program", "operator": "in",
                                "attribute_value": "PBI_JKN,JKN"}, "condition": "not"}]
    reply = await _search(client, envelope(item("predicate", elderly,
                                                response_entity="Member")))
    found = reply["message"]["search_response"][0]
    today = date.today()
    assert found["pagination"]["total_count"] > 0
    ids = [int(r["@id"].rsplit(":", 1)[1]) for r in found["data"]["reg_records"]]
    async with hub.engine.connect() as conn:
        covered = (await conn.execute(select(Enrollment.person_id).where(
            Enrollment.person_id.in_(ids), Enrollment.status == "ACTIVE",
            Enrollment.program.in_(["PBI_JKN", "JKN"])))).scalars().all()
    assert covered == []
    for record in found["data"]["reg_records"]:
        info = record["demographic_info"]
        assert info["sex"] == "female"
        born = date.fromisoformat(info["birth_date"])
        assert (today.year - born.year - ((today.month, today.day) < (born.month,
                                                                     born.day))) >= 60


async def test_pagination_edges(hub: Hub) -> None:
    client = await _client(hub)
    everything = [{"expression1": {"attribute_name": "desil", "operator": "ge",
                                   "attribute_value": 1}}]
    async with hub.engine.connect() as conn:
        total = (await conn.execute(select(func.count()).select_from(Household).where(
            Household.desil >= 1))).scalar_one()
    pages = [await _search(client, envelope(item("predicate", everything, pagination={
        "page_size": 50, "page_number": n}))) for n in (1, 2)]
    first, second = (p["message"]["search_response"][0]["data"]["reg_records"] for p in pages)
    assert len(first) == 50
    assert not {g["@id"] for g in first} & {g["@id"] for g in second}
    past = await _search(client, envelope(item("predicate", everything, pagination={
        "page_size": 50, "page_number": total // 50 + 2})))
    beyond = past["message"]["search_response"][0]
    assert beyond["data"]["reg_records"] == []
    assert beyond["pagination"]["total_count"] == total
    for bad in ({"page_size": 10, "page_number": 0}, {"page_size": -1},
                {"page_size": 10**6}):
        reply = await _search(client, envelope(item("predicate", everything, pagination=bad)))
        answer = reply["message"]["search_response"][0]
        assert answer["status"] == "rjct"
        assert answer["status_reason_code"] == "rjct.pagination.invalid"


async def test_bad_envelopes_and_items_get_reason_codes(hub: Hub) -> None:
    client = await _client(hub)
    nik_item = item("idtype-value", {"type": "NIK", "value": "3314015208850003"})
    cases = [
        (envelope(nik_item, message_ts="2026-11-23T08:00:00"), "rjct.message_ts.invalid"),
        (envelope(nik_item, version="2.0.0"), "rjct.version.invalid"),
        (envelope(nik_item, action="subscribe"), "rjct.action.invalid"),
        (envelope(nik_item, total=3), "rjct.total_count.invalid"),
        (envelope(nik_item, total_count="1"), "rjct.total_count.invalid"),
    ]
    for body, code in cases:
        reply = await _search(client, body, status=400, valid=False)
        assert reply["header"]["status"] == "rjct"
        assert reply["header"]["status_reason_code"] == code
        assert reply["header"]["status_reason_message"]
    mixed = await _search(client, valid=False, body=envelope(
        item("idtype-value", {"type": "PASSPORT", "value": "X"}),
        item("predicate", [{"expression1": {"attribute_name": "income", "operator": "gt",
                                            "attribute_value": 1}}]),
        item("expression", {"type": "graphql", "value": {"expression": "{ x }"}}),
        {**nik_item, "timestamp": "yesterday"},
        {**nik_item, "locale": "en"},
        item("idtype-value", {"type": "NIK", "value": "3314015208850003"},
             sort=[{"attribute_name": "name", "sort_order": "asc"}])))
    codes = [a.get("status_reason_code") for a in mixed["message"]["search_response"]]
    assert codes == ["rjct.filter.invalid", "rjct.filter.invalid",
                     "rjct.search_criteria.invalid", "rjct.timestamp.invalid",
                     "rjct.search_criteria.invalid", "rjct.sort.invalid"]
    assert mixed["header"]["status"] == "succ"  # the message was processed, item by item


async def test_a_replayed_message_id_is_refused_not_answered_twice(hub: Hub) -> None:
    client = await _client(hub)
    body = envelope(item("idtype-value", {"type": "NIK", "value": "3314015208850003"}))
    await _search(client, body)
    replay = await _search(client, body, status=409)
    assert replay["header"]["status_reason_code"] == "rjct.message_id.duplicate"


async def test_registry_search_keeps_to_the_clients_regions_and_roles(hub: Hub) -> None:
    theirs, = await people_in(hub.engine, "33.14.04", 1)
    district = await _client(hub, Role.DISTRICT, ("33.14.05",))
    reply = await _search(district, envelope(item("idtype-value",
                                                  {"type": "NIK", "value": theirs.nik})))
    assert reply["message"]["search_response"][0]["data"]["reg_records"] == []
    everyone = [{"expression1": {"attribute_name": "desil", "operator": "ge",
                                 "attribute_value": 1}}]
    reply = await _search(district, envelope(item("predicate", everyone,
                                                  response_entity="Member",
                                                  pagination={"page_size": 500})))
    regions = {r["@id"] for r in reply["message"]["search_response"][0]["data"]["reg_records"]}
    async with hub.engine.connect() as conn:
        outside = {f"urn:slrt-hub:person:{i}" for i in (await conn.execute(select(Person.id)
                   .where(Person.region_code.not_like("33.14.05.%")))).scalars()}
    assert regions
    assert not regions & outside
    partner = await _client(hub, Role.PARTNER, ("33.14",))
    refused = await partner.http.post(URL, json=envelope(item(
        "idtype-value", {"type": "NIK", "value": theirs.nik})))
    assert refused.status_code == 403
    anonymous = GraphQLClient(hub.app)
    hub.clients.append(anonymous)
    assert (await anonymous.http.post(URL, json={})).status_code == 401


async def test_a_bpjs_card_number_finds_its_holder(hub: Hub) -> None:
    client = await _client(hub)
    async with hub.engine.connect() as conn:
        card, nik = (await conn.execute(
            select(Enrollment.card_number, Person.nik).join(
                Person, Person.id == Enrollment.person_id).where(
                Enrollment.source.like("bpjs%"), Enrollment.card_number.is_not(None),
                Person.nik.is_not(None)).limit(1))).one()
    reply = await _search(client, envelope(item("idtype-value", {"type": "BPJS",
                                                                 "value": card},
                                                response_entity="Member")))
    found = reply["message"]["search_response"][0]["data"]["reg_records"]
    assert [m["member_identifier"][0]["identifier_value"] for m in found] == [nik]


async def test_a_fault_of_the_hub_is_a_masked_error_not_a_stack_trace(tmp_path) -> None:
    """The database loses its message-id table: the search fails inside, the caller
    gets the DCI error shape and no trace of SQL."""
    import asyncio

    from sqlalchemy.ext.asyncio import create_async_engine

    from hub.app import create_app
    from hub.config import HubSettings
    from hub.db.migrate import upgrade

    url = f"sqlite+aiosqlite:///{tmp_path / 'broken.db'}"
    await asyncio.to_thread(upgrade, url)
    engine = create_async_engine(url)
    _, key = await register(engine, Role.NATIONAL)
    async with engine.begin() as conn:
        await conn.exec_driver_sql("DROP TABLE dci_message")
    client = GraphQLClient(create_app(HubSettings(database={"url": url}), engine=engine), key)
    try:
        response = await client.http.post(URL, json=envelope(item(
            "idtype-value", {"type": "NIK", "value": "3314015208850003"})))
        assert response.status_code == 500
        assert response.json() == {"errors": [{"code": "err.service.unavailable", "message": (
            "the hub could not process the message; it has been logged")}]}
        assert "dci_message" not in response.text
    finally:
        await client.aclose()
        await engine.dispose()


def _graphql(document: str, **variables: Any) -> dict[str, Any]:
    return {"type": "ns:org:QueryType:graphql",
            "value": {"expression": document, **({"variables": variables} if variables
                                                  else {})}}


async def test_an_expression_is_graphql_run_with_the_callers_rules(hub: Hub) -> None:
    mine, = await people_in(hub.engine, "33.14.05", 1)
    theirs, = await people_in(hub.engine, "33.14.04", 1)
    document = "query Who($nik: String!) { person(nik: $nik) { nik name } }"
    national = await _client(hub)
    reply = await _search(national, envelope(item("expression",
                                                  _graphql(document, nik=mine.nik))))
    answer, = reply["message"]["search_response"]
    assert answer["status"] == "succ"
    assert answer["data"]["reg_record_type"] == "graphql"
    assert answer["data"]["reg_records"] == [{"data": {"person": {"nik": mine.nik,
                                                                  "name": mine.name}}}]

    district = await _client(hub, Role.DISTRICT, ("33.14.05",))
    reply = await _search(district, envelope(
        item("expression", _graphql(document, nik=theirs.nik)),
        item("expression", _graphql(document, nik=mine.nik))))
    outside, inside = reply["message"]["search_response"]
    assert outside["data"]["reg_records"] == [{"data": {"person": None}}]  # the guard's
    assert inside["data"]["reg_records"][0]["data"]["person"]["nik"] == mine.nik

    refused = await _search(national, envelope(
        item("expression", _graphql('mutation { resolveFinding(id: 1, reason: "x") '
                                    "{ id } }")),
        item("expression", _graphql("{ person(nik: ")),
        item("expression", {"type": "sql", "value": {"expression": "SELECT 1"}})))
    codes = [(a["status"], a.get("status_reason_code"))
             for a in refused["message"]["search_response"]]
    assert codes == [("rjct", "rjct.search_criteria.invalid"),
                     ("rjct", "rjct.search_criteria.invalid"),
                     ("rjct", "rjct.filter.invalid")]
    messages = [a["status_reason_message"] for a in refused["message"]["search_response"]]
    assert "cannot run by DCI" in messages[0]
    assert "Syntax Error" in messages[1]
    await hub.flush_audit()
    async with hub.engine.connect() as conn:
        audited = (await conn.execute(select(AuditLog.entry).where(
            AuditLog.operation.like("query Who%")))).scalars().all()
    assert len(audited) >= 2  # read through GraphQL, audited as GraphQL reads are
    assert any(mine.nik in entry for entry in audited)


async def test_a_look_up_by_nik_on_the_short_path_answers_as_the_general_query(
        hub: Hub) -> None:
    """A Member by NIK goes the driver's shortest path on PostgreSQL; for every scope
    shape and page its answer (rows, order, total, audit subjects) is the general
    query's, which a sort on id forces."""
    from dataclasses import replace

    from hub.access.roles import RegionScope
    from hub.dci import registry
    from hub.dci.query import IdQuery, SearchItem

    inside = await people_in(hub.engine, "33.14.04", 2)
    outside = await people_in(hub.engine, "33.14.05", 1)
    niks = [p.nik for p in inside + outside] + ["3314015208850099"]
    scopes = [RegionScope(everywhere=True), RegionScope(("33.14.04",)),
              RegionScope(("33.14.05", "33.14.04.2001")), RegionScope(("33.14",)),
              RegionScope(())]
    short_path = hub.engine.dialect.driver == "asyncpg"
    today = date.today()
    for nik in niks:
        for scope in scopes:
            for size, page in ((10, 1), (1, 1), (1, 2), (10, 3)):
                item = SearchItem("r", datetime.now(UTC), IdQuery("NIK", nik), size, page,
                                  (), "Member", None)
                assert (registry._nik_look_up(hub.engine, item) == nik) is short_path
                answered = await registry.search(hub.engine, item, scope, today)
                general = await registry.search(hub.engine, replace(
                    item, sort=(("id", "asc"),)), scope, today)
                assert (answered.total, answered.records, answered.subjects) == \
                    (general.total, general.records, general.subjects), (nik, scope, size)
    found = await registry.search(hub.engine, SearchItem(
        "r", datetime.now(UTC), IdQuery("NIK", inside[0].nik), 10, 1, (), "Member", None),
        RegionScope(("33.14.04",)), today)
    assert found.total == 1
    assert found.subjects == [("person", inside[0].id, inside[0].nik)]
    assert found.records[0]["member_identifier"][0]["identifier_value"] == inside[0].nik
