"""Bad input never gets a 500: every HTTP endpoint, with and without a key, fed the
inputs the audit found (deep nesting, out-of-range numbers, strings where objects
belong, oversized ids, foreign languages' letters, wrong content types)."""

from __future__ import annotations

import copy
import random
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from hub.access.roles import Role
from hub.db.models import ApiClient, DciCallback, DciTransaction
from tests.access.conftest import Hub, hub  # noqa: F401
from tests.dci.spec import response_problems
from tests.dci.test_search import envelope, item
from tests.schema.helpers import GraphQLClient, register

DEEP = b"[" * 1100 + b"]" * 1100
DEEP_OBJECT = b'{"a":' * 1100 + b"1" + b"}" * 1100
ENDPOINTS = ["/graphql", "/dci/registry/sync/search", "/dci/registry/search",
             "/dci/registry/sync/txn/status", "/dci/registry/txn/status",
             "/dci/registry/subscribe", "/dci/registry/unsubscribe",
             "/dci/registry/sync/enrolled", "/dci/registry/sync/enrollment/updates",
             "/dci/oauth2/client/token", "/dci/registry/on-search", "/dci/registry/notify",
             "/dci/registry/on-subscribe", "/callbacks/bpjs/referrals"]


async def _client(hub: Hub, role: Role = Role.NATIONAL) -> GraphQLClient:  # noqa: F811
    _, key = await register(hub.engine, role)
    client = GraphQLClient(hub.app, key)
    hub.clients.append(client)
    return client


async def test_deep_nesting_is_a_400_everywhere(hub: Hub) -> None:  # noqa: F811
    keyed = await _client(hub)
    anonymous = GraphQLClient(hub.app)
    hub.clients.append(anonymous)
    for client in (keyed, anonymous):
        for path in ENDPOINTS:
            for body in (DEEP, DEEP_OBJECT, b'{"query": "{ __typename }", "variables": {"v":'
                         + DEEP + b"}}"):
                response = await client.http.post(path, content=body, headers={
                    "content-type": "application/json", "accept": "application/json"})
                assert response.status_code < 500, (path, response.status_code)
    variables = await keyed.http.get("/graphql", params={
        "query": "{ __typename }", "variables": DEEP.decode()})
    assert variables.status_code == 400


async def _dci(client: GraphQLClient, path: str, body: Any, status: int) -> dict:
    response = await client.http.post("/dci/registry/" + path, json=body)
    assert response.status_code == status, response.text
    return response.json()


async def test_dci_input_out_of_range_or_misshapen_is_rejected_with_a_reason(
        hub: Hub) -> None:  # noqa: F811
    client = await _client(hub)

    def predicate(name: str, operator: str, value: Any) -> dict:
        return item("predicate", [{"expression1": {"attribute_name": name, "operator": operator,
                                                   "attribute_value": value}}])

    reply = await _dci(client, "sync/search", envelope(
        predicate("age", "ge", 5000), predicate("age", "lt", -8000),
        predicate("desil", "eq", 1e30), predicate("desil", "eq", 10**30),
        item("idtype-value", {"type": "NIK", "value": "3314015208850003"},
             pagination={"page_size": 10, "page_number": 1e19}),
        {**item("idtype-value", {"type": "NIK", "value": "3314015208850003"}),
         "locale": "éèà"}), 200)
    codes = [a.get("status_reason_code") for a in reply["message"]["search_response"]]
    assert codes == ["rjct.filter.invalid"] * 4 + ["rjct.pagination.invalid",
                                                   "rjct.search_criteria.invalid"]
    assert response_problems("social", "/registry/sync/search", reply) == []

    long_transaction = envelope(item("idtype-value", {"type": "NIK",
                                                      "value": "3314015208850003"}))
    long_transaction["message"]["transaction_id"] = "T" * 100
    refused = await _dci(client, "sync/search", long_transaction, 400)
    assert refused["header"]["status"] == "rjct"
    assert "transaction_id" in refused["header"]["status_reason_message"]
    assert response_problems("social", "/registry/sync/search", refused) == []

    bad_id = envelope(item("idtype-value", {"type": "NIK", "value": "3314015208850003"}),
                      message_id="M" * 120)
    refused = await _dci(client, "sync/search", bad_id, 400)
    assert refused["header"]["status_reason_code"] == "rjct.action.invalid"
    assert response_problems("social", "/registry/sync/search", refused) == []

    for content_type in (None, "text/plain", "application/json; charset=latin-1"):
        headers = {"content-type": content_type} if content_type else {}
        response = await client.http.post("/dci/registry/sync/search",
                                          content=b'{"header": {}}', headers=headers)
        assert response.status_code == 415, content_type


@pytest.mark.parametrize("shape", ["programme", "person"])
async def test_a_misshapen_beneficiary_is_quarantined_not_a_500(
        hub: Hub, shape: str) -> None:  # noqa: F811
    good = {"reference_id": "r1", "member": {
        "member_identifier": "0001234567890",
        "demographic_info": {"person": {"identifier_type": "NIK",
                                        "identifier_value": "3314015208850003",
                                        "name": "Siti", "birth_date": "1985-08-12"}},
        "programme_identifier": {"programme": {"programme_identifier": "PBI_JKN"},
                                 "enrolment_status": "active",
                                 "enrolment_date": "2024-01-01"}}}
    bad = {"reference_id": "r2", "member": dict(good["member"])}
    if shape == "programme":
        bad["member"]["programme_identifier"] = {"programme": "PBI_JKN"}
    else:
        bad["member"]["demographic_info"] = {"person": "Siti"}
    message = {"transaction_id": uuid.uuid4().hex[:20],
               "enrolled_updates": {"beneficiaries": [good, bad]}}
    body = {"header": {"version": "1.0.0", "message_id": uuid.uuid4().hex,
                       "message_ts": datetime.now(UTC).isoformat(), "action": "notify",
                       "sender_id": "bpjs.example", "total_count": 2,
                       "is_msg_encrypted": False}, "message": message}
    client = await _client(hub, Role.NATIONAL)
    response = await client.http.post("/dci/registry/sync/enrollment/updates", json=body)
    assert response.status_code == 200, response.text
    answers = response.json()["message"]["enrolled_response"]
    assert [a["status"] for a in answers] == ["succ", "rjct"]
    assert "quarantine" in answers[1]["status_reason_message"]


NASTY: list[Any] = [None, "", " ", "x" * 5000, "éèà", "\u0000", "3314015208850003" * 10, 0,
                    -1, 2**63, 10**30, 1e308, -1e308, 0.5, True, [], {}, [[[]]],
                    {"a": {"b": {"c": {}}}}, ["x"] * 300]


def _mutants(body: Any, rng: random.Random, count: int) -> list[Any]:
    """`count` copies of a valid body, each with one value somewhere replaced by a nasty
    one (or a key dropped): structured fuzzing that reaches past the first check."""
    paths: list[tuple[Any, ...]] = []
    stack: list[tuple[Any, tuple[Any, ...]]] = [(body, ())]
    while stack:
        value, path = stack.pop()
        paths.append(path)
        if isinstance(value, dict):
            stack.extend((child, (*path, key)) for key, child in value.items())
        elif isinstance(value, list):
            stack.extend((child, (*path, i)) for i, child in enumerate(value))
    out = []
    for _ in range(count):
        mutant = copy.deepcopy(body)
        path = rng.choice(paths[1:])
        parent = mutant
        for step in path[:-1]:
            parent = parent[step]
        if isinstance(parent, dict) and rng.random() < 0.2:
            del parent[path[-1]]
        else:
            parent[path[-1]] = copy.deepcopy(rng.choice(NASTY))
        out.append(mutant)
    return out


async def test_mutated_requests_never_get_a_500(hub: Hub) -> None:  # noqa: F811
    client = await _client(hub)
    nik = "3314015208850003"
    now = datetime.now(UTC).isoformat()
    valid = {
        "/graphql": {"query": "query($n: String!, $f: Int) { person(nik: $n) { name } "
                     "households(region: \"33.14\", first: $f) { edges { node { kk } } } }",
                     "variables": {"n": nik, "f": 5}},
        "/dci/registry/sync/search": envelope(
            item("idtype-value", {"type": "NIK", "value": nik}),
            item("predicate", [{"seq_num": 1, "expression1": {
                "attribute_name": "age", "operator": "ge", "attribute_value": 18},
                "condition": "and", "expression2": {"attribute_name": "desil",
                                                    "operator": "le", "attribute_value": 4}}],
                 pagination={"page_size": 5, "page_number": 1},
                 sort=[{"attribute_name": "desil", "sort_order": "asc"}])),
        "/dci/registry/sync/txn/status": {**envelope(), "message": {
            "transaction_id": "t1", "txnstatus_request": {
                "reference_id": "r1", "txn_type": "search",
                "attribute_type": "transaction_id", "attribute_value": "t1"}}},
        "/dci/registry/sync/enrolled": {**envelope(), "message": {
            "transaction_id": "t2", "enrolled_criteria": {"query": {
                "person_identifier": {"eq": nik}, "programme_identifier": {"eq": "PBI_JKN"}}}}},
        "/dci/oauth2/client/token": {"grant_type": "client_credentials",
                                     "client_id": "x", "client_secret": "slrt_x_y"},
        "/callbacks/bpjs/referrals": {"referral_id": 1, "status": "ACCEPTED"},
        "/dci/registry/on-search": {**envelope(action="on-search"), "message": {
            "transaction_id": "t3",
                                                               "search_response": []}},
        "/dci/registry/subscribe": {**envelope(sender_uri="http://127.0.0.1:9/cb"),
                                    "message": {"transaction_id": "t4", "subscribe_request": [{
                                        "reference_id": "r1", "timestamp": now,
                                        "subscribe_criteria": {
                                            "version": "1.0.0", "reg_event_type": "update",
                                            "frequency": "0 * * * *",
                                            "filter_type": "predicate",
                                            "filter": [{"expression1": {
                                                "attribute_name": "desil", "operator": "le",
                                                "attribute_value": 4}}],
                                            "notify_record_type": "Group"}}]}},
        "/dci/registry/unsubscribe": {**envelope(sender_uri="http://127.0.0.1:9/cb"),
                                      "message": {"transaction_id": "t5", "timestamp": now,
                                                  "subscription_codes": ["abc"]}},
        "/dci/registry/sync/enrollment/updates": {**envelope(action="notify"), "message": {
            "transaction_id": "t6", "enrolled_updates": {"beneficiaries": [{
                "reference_id": "b1", "member": {
                    "member_identifier": "0001", "demographic_info": {"person": {
                        "identifier_type": "NIK", "identifier_value": nik, "name": "Siti",
                        "birth_date": "1985-08-12"}},
                    "programme_identifier": {"programme": {"programme_identifier": "PKH"},
                                             "enrolment_status": "active"}}}]}}},
        "/dci/registry/notify": {**envelope(action="notify"), "message": {"transaction_id": "t7",
                                                            "notify_event": []}},
    }
    for body in valid.values():
        if isinstance(body, dict) and "header" in body:
            body["header"]["message_ts"] = now
    for path in ("/graphql", "/dci/registry/sync/search", "/dci/registry/sync/enrolled",
                 "/dci/registry/sync/enrollment/updates"):  # the unmutated bodies are taken
        response = await client.http.post(path, json=valid[path],
                                          headers={"accept": "application/json"})
        assert response.status_code == 200, (path, response.text[:300])
    rng = random.Random(16)
    for path, body in valid.items():
        for mutant in _mutants(body, rng, 150):
            response = await client.http.post(path, json=mutant,
                                              headers={"accept": "application/json"})
            assert response.status_code < 500, (path, mutant, response.text[:300])
    for code in ("x" * 5000, "%00", "ÄÖÜ", "../../etc/passwd", "1" * 11, "A-B"):
        response = await client.http.get(f"/rujukan/verify/{code}")
        assert response.status_code < 500, code


async def test_an_async_request_that_cannot_be_processed_ends_with_its_rjct(
        hub: Hub) -> None:  # noqa: F811
    """A fault of ours that every attempt meets (here a stored request no code path
    reads) would be retried every claim period forever; it ends at once, answered."""
    name, _ = await register(hub.engine, Role.NATIONAL)
    mine = uuid.uuid4().hex
    url = f"http://127.0.0.1:9/{mine}/on-search"
    async with hub.engine.begin() as conn:
        client_id = (await conn.execute(select(ApiClient.id).where(
            ApiClient.name == name))).scalar_one()
        await conn.execute(DciTransaction.__table__.insert().values(
            sender_id="kemensos.example", client_id=client_id, action="search",
            transaction_id=mine, correlation_id=mine, reference_ids=["r1"],
            callback_url=url, request={"search_request": None}, status="pdng",
            created_at=datetime.now(UTC)))
    worker = hub.app.state.dci_worker.transactions

    async def answered() -> tuple[str, list[dict[str, Any]]]:
        async with hub.engine.connect() as conn:
            status = (await conn.execute(select(DciTransaction.status).where(
                DciTransaction.transaction_id == mine))).scalar_one()
            headers = list((await conn.execute(select(DciCallback.header).where(
                DciCallback.url == url))).scalars())
        return status, headers

    assert await worker.run_once() >= 1
    status, headers = await answered()
    assert status == "rjct"
    assert [(h["status"], h["status_reason_code"]) for h in headers] == [
        ("rjct", "rjct.action.invalid")]
    await worker.run_once()  # nothing of ours left to retry: still one answer
    assert await answered() == (status, headers)


async def test_a_callback_without_its_message_is_not_acknowledged(
        hub: Hub) -> None:  # noqa: F811
    client = await _client(hub)
    for action in ("on-subscribe", "on-unsubscribe", "on-search"):
        body = envelope(action=action)
        del body["message"]
        response = await client.http.post(f"/dci/registry/{action}", json=body)
        assert response.status_code == 400, (action, response.text)
        assert response.json()["message"]["ack_status"] == "ERR"
