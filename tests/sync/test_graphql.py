"""The reconciliation API over GraphQL: lineage, findings, review, stewards' decisions
that later runs respect, sync history and connector state."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.access.roles import Role
from hub.config import HubSettings
from hub.db.models import LinkDecision, MatchKey, SourceRecord, SyncRequest
from hub.sync.reconcile import Reconciler
from tests.figures import expected_and_stored
from tests.schema.helpers import GraphQLClient, make_client
from tests.sync.conftest import sync_all


@pytest.fixture
async def synced(hub_engine: AsyncEngine, hub_settings: HubSettings
                 ) -> AsyncIterator[GraphQLClient]:
    await sync_all(hub_engine, hub_settings)
    client = await make_client(hub_settings, hub_engine, Role.DISTRICT, ["33.14"])
    yield client
    await client.aclose()


async def _nik_of_a_person(engine: AsyncEngine) -> str:
    async with engine.connect() as conn:
        return (await conn.execute(select(SourceRecord.source_key).where(
            SourceRecord.source == "dukcapil").limit(1))).scalar_one()


async def _keys_astray(engine: AsyncEngine) -> int:
    """Match keys whose person is not their record's (the two are written together)."""
    async with engine.connect() as conn:
        rows = (await conn.execute(select(MatchKey.person_id, SourceRecord.person_id)
                                   .join(SourceRecord, SourceRecord.id == MatchKey.record_id)
                                   )).all()
    assert rows
    return sum(1 for key_person, record_person in rows if key_person != record_person)


async def test_person_lineage_names_the_winning_records(synced: GraphQLClient,
                                                        hub_engine: AsyncEngine) -> None:
    nik = await _nik_of_a_person(hub_engine)
    data = await synced.data("""query($nik: String!) { person(nik: $nik) {
        name lineage { field source sourceKey recordId seenAt }
        household { kk lineage { field source } } } }""", nik=nik)
    lineage = {e["field"]: e for e in data["person"]["lineage"]}
    assert lineage["name"]["source"] == "dukcapil"
    assert lineage["name"]["sourceKey"] == nik
    assert lineage["birthDate"]["seenAt"]
    household = {e["field"] for e in data["person"]["household"]["lineage"]}
    assert "villageCode" in household


async def test_findings_page_filter_count_and_resolve(synced: GraphQLClient) -> None:
    page = await synced.data("""{ findings(kind: INVALID_NIK, status: OPEN, first: 3) {
        edges { cursor node { id kind status ownerAgency regionCode evidence
                              person { id name } } }
        pageInfo { hasNextPage endCursor } } }""")
    edges = page["findings"]["edges"]
    assert len(edges) == 3
    assert all(e["node"]["kind"] == "INVALID_NIK" for e in edges)
    assert page["findings"]["pageInfo"]["hasNextPage"]
    after = await synced.data("""query($after: String) { findings(kind: INVALID_NIK,
        first: 3, after: $after) { edges { node { id } } } }""",
                              after=page["findings"]["pageInfo"]["endCursor"])
    first_ids = {e["node"]["id"] for e in edges}
    assert not first_ids & {e["node"]["id"] for e in after["findings"]["edges"]}

    counts = await synced.data('{ findingCounts(region: "33.14") { regionCode kind open } }')
    assert any(c["kind"] == "INVALID_NIK" and c["open"] > 0 for c in counts["findingCounts"])
    assert all(c["regionCode"].startswith("33.14") for c in counts["findingCounts"])

    target = edges[0]["node"]["id"]
    resolved = await synced.data("""mutation($id: ID!) { resolveFinding(id: $id,
        reason: "NIK corrected in SIKS-NG, waiting for the next export") {
        status resolvedReason resolvedBy } }""", id=target)
    assert resolved["resolveFinding"]["status"] == "RESOLVED"
    # The decision is recorded under the authenticated client, not a name it claims.
    assert resolved["resolveFinding"]["resolvedBy"] == synced.name
    errors = await synced.errors(
        """mutation { resolveFinding(id: "999999999", reason: "x") { id } }""")
    assert errors[0]["extensions"]["code"] == "NOT_FOUND"


async def test_split_then_rerun_keeps_the_steward_decision(
        synced: GraphQLClient, hub_engine: AsyncEngine, hub_settings: HubSettings) -> None:
    async with hub_engine.connect() as conn:
        person, record, nik = (await conn.execute(
            select(SourceRecord.person_id, SourceRecord.id, SourceRecord.source_key)
            .where(SourceRecord.source == "dukcapil",
                   SourceRecord.link_method == "NIK").limit(1))).one()
        others = (await conn.execute(select(SourceRecord.id).where(
            SourceRecord.person_id == person, SourceRecord.id != record))).scalars().all()
    assert others, "a person linked by NIK has more than one record"
    split = await synced.data("""mutation($p: ID!, $r: [ID!]!) { splitPerson(personId: $p,
        recordIds: $r, reason: "two people") { id } }""",
                              p=str(person), r=[str(r) for r in others])
    new_person = int(split["splitPerson"]["id"])
    assert new_person != person
    assert await _keys_astray(hub_engine) == 0
    expected, stored = await expected_and_stored(hub_engine)
    assert stored == expected  # a steward's split recounts the villages it touched

    # A full automatic rebuild must not put them back together.
    await Reconciler(hub_engine, hub_settings).run(full=True)
    async with hub_engine.connect() as conn:
        owners = dict((await conn.execute(select(SourceRecord.id, SourceRecord.person_id)
                                          .where(SourceRecord.id.in_([record, *others])))).all())
        decisions = (await conn.execute(select(LinkDecision.decision).where(
            LinkDecision.record_id.in_(others)))).scalars().all()
    assert owners[record] == person
    assert {owners[r] for r in others} == {new_person}
    assert set(decisions) == {"LINK", "NOT_LINK"}
    assert await _keys_astray(hub_engine) == 0

    merged = await synced.data("""mutation($k: ID!, $m: ID!) { mergePersons(keep: $k,
        merge: $m) { id lineage { field } } }""",
                               k=str(person), m=str(new_person))
    assert merged["mergePersons"]["id"] == str(person)
    assert await _keys_astray(hub_engine) == 0
    expected, stored = await expected_and_stored(hub_engine)
    assert stored == expected
    gone = await synced.data("query($nik: String!) { person(nik: $nik) { id } }", nik=nik)
    assert gone["person"]["id"] == str(person)


async def test_bad_steward_requests_get_clear_errors(synced: GraphQLClient) -> None:
    errors = await synced.errors("""mutation { mergePersons(keep: "1", merge: "1") { id } }""")
    assert "itself" in errors[0]["message"]
    errors = await synced.errors(
        """mutation { linkRecord(recordId: "abc", personId: "1") { id } }""")
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert errors[0]["extensions"]["argument"] == "recordId"


async def test_review_tasks_carry_evidence_and_can_be_settled(
        synced: GraphQLClient, hub_engine: AsyncEngine, hub_settings: HubSettings) -> None:
    data = await synced.data("""{ reviewTasks(first: 5) { id probability evidence status
        record { id source linkMethod values } candidate { id name } } }""")
    tasks = data["reviewTasks"]
    assert tasks, "the noisy district leaves some pairs uncertain"
    task = tasks[0]
    assert 0 < task["probability"] < 1
    assert set(task["evidence"]) >= {"name", "birth_date"}
    assert all("weight" in v for v in task["evidence"].values())
    settled = await synced.data("""mutation($id: ID!) { resolveReviewTask(id: $id,
        decision: NOT_LINK) }""", id=task["id"])
    assert settled["resolveReviewTask"] == "REJECTED"
    again = await synced.errors("""mutation($id: ID!) { resolveReviewTask(id: $id,
        decision: LINK) }""", id=task["id"])
    assert "already" in again[0]["message"]

    # A rebuild scores the same pair again, but the steward's answer stands.
    await Reconciler(hub_engine, hub_settings).run(full=True)
    reopened = await synced.data("""{ reviewTasks(first: 500) { record { id }
        candidate { id } } }""")
    pair = (task["record"]["id"], task["candidate"]["id"])
    assert pair not in {(t["record"]["id"], t["candidate"]["id"] if t["candidate"] else None)
                        for t in reopened["reviewTasks"]}


async def test_sync_runs_connectors_and_trigger(synced: GraphQLClient,
                                                hub_engine: AsyncEngine) -> None:
    data = await synced.data("""{ syncRuns(first: 20) { connector stream status
        counts { fetched new changed unchanged quarantined } details }
        connectors { name enabled schedule lastSuccessAt lagSeconds circuitState
                     lastRun { status } } }""")
    runs = data["syncRuns"]
    reconcile = next(r for r in runs if r["connector"] == "reconcile")
    assert reconcile["status"] == "SUCCEEDED"
    assert reconcile["details"]["persons_touched"] > 0
    dukcapil = next(r for r in runs if r["connector"] == "dukcapil")
    assert dukcapil["counts"]["fetched"] > 0
    states = {c["name"]: c for c in data["connectors"]}
    assert set(states) == {"dtks", "dukcapil", "bpjs", "education", "baznas"}
    assert all(c["lagSeconds"] is not None and c["lagSeconds"] >= 0 for c in states.values())
    assert all(c["circuitState"] == "CLOSED" for c in states.values())

    queued = await synced.data("""mutation { triggerSync(connector: "bpjs") {
        id connector status } }""")
    assert queued["triggerSync"]["status"] == "QUEUED"
    async with hub_engine.connect() as conn:
        assert (await conn.execute(select(SyncRequest.connector))).scalars().all() == ["bpjs"]
    errors = await synced.errors('mutation { triggerSync(connector: "nope") { id } }')
    assert errors[0]["extensions"]["argument"] == "connector"


async def test_dci_search_by_nisn_finds_the_pupil_of_the_education_record(
        synced: GraphQLClient, hub_engine: AsyncEngine) -> None:
    """NISN lives only in the education office's records: the DCI search follows the
    record to its golden person."""
    import uuid
    from datetime import UTC, datetime

    from hub.db.models import Person

    async with hub_engine.connect() as conn:
        record = (await conn.execute(select(SourceRecord.normalized, SourceRecord.person_id)
                                     .where(SourceRecord.source == "education",
                                            SourceRecord.person_id.is_not(None))
                                     .limit(1))).one()
        nik = (await conn.execute(select(Person.nik).where(
            Person.id == record.person_id))).scalar_one()
    now = datetime.now(UTC).isoformat()
    response = await synced.http.post("/dci/registry/sync/search", json={
        "header": {"version": "1.0.0", "message_id": uuid.uuid4().hex, "message_ts": now,
                   "action": "search", "sender_id": "test", "total_count": 1},
        "message": {"transaction_id": "t1", "search_request": [{
            "reference_id": "r1", "timestamp": now,
            "search_criteria": {"query_type": "idtype-value", "response_entity": "Member",
                                "query": {"type": "NISN",
                                          "value": record.normalized["nisn"]}}}]}})
    found = response.json()["message"]["search_response"][0]["data"]["reg_records"]
    assert [r["@id"] for r in found] == [f"urn:slrt-hub:person:{record.person_id}"]
    if nik:
        assert found[0]["member_identifier"][0]["identifier_value"] == nik
