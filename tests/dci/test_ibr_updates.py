"""IBR end to end on a registry built by reconciliation from the five simulated
agencies: a programme pushes its enrolments through DCI, a malformed one is kept in
quarantine with its reason, the next reconciliation applies the valid one, the IBR
check answers yes, and a subscriber is notified of the enrolment change."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.config import HubSettings
from hub.db.models import Household, Person, SourceRecord
from tests.dci.partner import Partner, partnered
from tests.dci.spec import problems, request_problems
from tests.dci.test_subscriptions import _notified, _subscribe
from tests.sync.conftest import sync_all

UPDATES = "/registry/sync/enrollment/updates"


def _beneficiary(nik: str, name: str, programme: str = "BLT_DD",
                 id_type: str = "NIK") -> dict[str, Any]:
    return {"@type": "Beneficiary", "member": {
        "member_identifier": f"BLT-{nik[-6:]}",
        "demographic_info": {"person": {"identifier_type": id_type, "identifier_value": nik,
                                        "name": {"first_name": name}, "sex": "F"}},
        "programme_identifier": {
            "programme": {"programme_identifier": programme,
                          "programme_name": "BLT Dana Desa"},
            "enrolment_date": "01.11.2026", "enrolment_status": "Active"}}}


async def _enrolled(partner: Partner, nik: str, programme: str) -> str:
    body = partner.envelope("search", {"transaction_id": uuid.uuid4().hex[:20],
                                       "enrolled_criteria": {"query": {
                                           "person_identifier": {"eq": nik},
                                           "programme_identifier": {"eq": programme}}}},
                            signed=False)
    response = await partner.post("sync/enrolled", body)
    assert response.status_code == 200, response.text
    return response.json()["message"]["enrolled_response"][0]["enrolled_status"]


async def test_a_programme_pushes_enrolments_that_reconciliation_applies(
        hub_engine: AsyncEngine, hub_settings: HubSettings) -> None:
    await sync_all(hub_engine, hub_settings)
    async with hub_engine.connect() as conn:
        person = (await conn.execute(
            select(Person.id, Person.nik, Person.name)
            .join(Household, Household.id == Person.household_id)
            .where(Person.nik.is_not(None)).order_by(Person.id).limit(1))).one()
    async with partnered(hub_settings, hub_engine) as partner:
        await _subscribe(partner, {
            "reg_event_type": "EnrollmentChange", "notify_record_type": "Member",
            "filter_type": "idtype-value", "filter": {"type": "NIK", "value": person.nik}})
        assert await _enrolled(partner, person.nik, "BLT_DD") == "no"

        message = {"transaction_id": uuid.uuid4().hex[:20], "enrolled_updates": {
            "beneficiaries": [_beneficiary(person.nik, person.name),
                              _beneficiary("P1234567", "Siti", id_type="PASSPORT")]}}
        body = partner.envelope("notify", message, total=2, status="succ")
        assert request_problems("ibr", UPDATES, body) == []
        response = await partner.post("sync/enrollment/updates", body)
        assert response.status_code == 200, response.text
        reply = response.json()
        assert problems("ibr", "EnrollmentUpdatesResponse", reply["message"]) == []
        assert problems("ibr", "MsgCallbackHeader_V1.0.0", reply["header"]) == []
        accepted, refused = reply["message"]["enrolled_response"]
        assert accepted["status"] == "succ"
        assert refused["status"] == "rjct"
        assert "identifier_type" in refused["status_reason_message"]
        async with hub_engine.connect() as conn:
            staged = (await conn.execute(select(SourceRecord.source_key,
                                                SourceRecord.quarantine_reason)
                                         .where(SourceRecord.source == "ibr"))).all()
        assert len(staged) == 2
        assert sum(1 for _, reason in staged if reason) == 1  # kept, with its reason

        outcome = await sync_all(hub_engine, hub_settings)
        assert outcome.reconcile is not None
        assert outcome.reconcile.counts["pending"] >= 1
        assert await _enrolled(partner, person.nik, "BLT_DD") == "yes"
        await partner.work()
        events = await _notified(partner)
        assert len(events) == 1
        event = events[0]
        assert event["registry_event"]["type"] == "ns:slrt:RegistryEventType:EnrollmentChange"
        assert {"program": "BLT_DD", "status": "ACTIVE"} in \
            event["registry_event"]["detail"]["after"]
        record = event["data"]["reg_records"]
        assert record["@id"] == f"urn:slrt-hub:person:{person.id}"
