"""DCI subscriptions: subscribe, notify from the registry's change history (inside the
subscriber's regions, through its filter, at its frequency), unsubscribe, and nothing
lost or sent twice across a restart. Every message is checked against the spec."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.access.roles import Role
from hub.crypto import signatures
from hub.db.models import Household, RegistryEvent
from hub.domain import changes
from tests.dci.partner import Partner, partnered
from tests.dci.spec import request_problems, response_problems

IN_REGION = "33.14.05"


def _criteria(event_type: str = "REGISTER,DesilChange,Death", **criteria: Any) -> dict:
    """Subscribe criteria; a keyword given as None is left out."""
    made = {"version": "1.0.0", "reg_type": "ns:org:RegistryType:Social",
            "reg_event_type": event_type, "notify_record_type": "Group",
            "filter_type": "predicate",
            "filter": [{"seq_num": 1, "expression1": {
                "attribute_name": "region_code", "operator": "eq",
                "attribute_value": IN_REGION}}], **criteria}
    return {key: value for key, value in made.items() if value is not None}


def _subscribe_message(*criteria: dict[str, Any]) -> dict[str, Any]:
    return {"transaction_id": uuid.uuid4().hex[:20], "subscribe_request": [
        {"reference_id": uuid.uuid4().hex[:12], "timestamp": datetime.now(UTC).isoformat(),
         "subscribe_criteria": c} for c in criteria]}


async def _subscribe(partner: Partner, *criteria: dict[str, Any]) -> list[dict[str, Any]]:
    body = partner.envelope("subscribe", _subscribe_message(*criteria), total=len(criteria),
                            sender_uri=partner.receiver.base)
    assert request_problems("social", "/registry/subscribe", body) == []
    response = await partner.post("subscribe", body)
    assert response.status_code == 200, response.text
    assert response_problems("social", "/registry/subscribe", response.json()) == []
    await partner.work()
    callback = partner.receiver.received["on-subscribe"][-1]
    assert request_problems("social", "/registry/on-subscribe", callback) == [], callback
    assert callback["message"]["correlation_id"] == body["header"]["message_id"]
    return callback["message"]["subscribe_response"]


async def _households(engine: AsyncEngine) -> tuple[Any, Any]:
    async with engine.connect() as conn:
        inside = (await conn.execute(select(Household.id, Household.village_code).where(
            Household.village_code.like(IN_REGION + ".%")).limit(1))).one()
        outside = (await conn.execute(select(Household.id, Household.village_code).where(
            Household.village_code.like("33.14.06.%")).limit(1))).one()
    return inside, outside


async def _happen(engine: AsyncEngine, *events: tuple[str, Any]) -> None:
    """Registry changes as reconciliation records them."""
    async with engine.begin() as conn:
        await conn.execute(insert(RegistryEvent), [
            {"kind": kind, "household_id": h.id, "person_id": None,
             "region_code": h.village_code, "detail": {"from": 3, "to": 5}
             if kind == changes.DESIL_CHANGED else {}, "occurred_at": datetime.now(UTC)}
            for kind, h in events])


async def _notified(partner: Partner) -> list[dict[str, Any]]:
    out = []
    for body in partner.receiver.received["notify"]:
        assert request_problems("social", "/registry/notify", body) == [], body
        assert signatures.verify(body["signature"], body["header"], body["message"],
                                 "slrt-hub", await partner.hub_keys(), int(time.time()))
        out += body["message"]["notify_event"]
    return out


async def test_subscribers_are_told_of_changes_in_their_filter_once(
        settings_for, loaded_engine) -> None:
    inside, outside = await _households(loaded_engine)
    async with partnered(settings_for, loaded_engine) as partner:
        answer, = await _subscribe(partner, _criteria())
        assert answer["status"] == "succ"
        code = answer["subscriptions"][0]["code"]
        await _happen(loaded_engine, (changes.DESIL_CHANGED, inside),
                      (changes.DESIL_CHANGED, outside), (changes.MEMBER_ADDED, inside))
        await partner.work()
        events = await _notified(partner)
        assert len(events) == 1  # the other region is filtered, MemberAdded not asked for
        event = events[0]
        assert event["data"]["reg_records"]["@id"] == f"urn:slrt-hub:household:{inside.id}"
        assert event["data"]["reg_event_type"] == "REGISTER"
        assert event["registry_event"]["type"] == "ns:slrt:RegistryEventType:DesilChange"
        assert event["registry_event"]["detail"] == {"from": 3, "to": 5}
        assert event["reference_id"].startswith(code + ":")
        await partner.work()
        assert len(await _notified(partner)) == 1  # not twice

        body = partner.envelope("unsubscribe", {
            "transaction_id": uuid.uuid4().hex[:20], "timestamp": datetime.now(UTC).isoformat(),
            "subscription_codes": [code]}, sender_uri=partner.receiver.base)
        assert request_problems("social", "/registry/unsubscribe", body) == []
        assert (await partner.post("unsubscribe", body)).status_code == 200
        await _happen(loaded_engine, (changes.DESIL_CHANGED, inside))
        await partner.work()
        done, = partner.receiver.received["on-unsubscribe"]
        assert request_problems("social", "/registry/on-unsubscribe", done) == [], done
        assert done["message"]["status"] == "succ"
        assert done["message"]["subscription_status"] == [{"code": code,
                                                           "status": "unsubscribe"}]
        assert len(await _notified(partner)) == 1  # nothing after unsubscribing

        again = partner.envelope("unsubscribe", {
            "transaction_id": uuid.uuid4().hex[:20], "timestamp": datetime.now(UTC).isoformat(),
            "subscription_codes": [code, "not-a-code"]}, sender_uri=partner.receiver.base)
        await partner.post("unsubscribe", again)
        await partner.work()
        refused = partner.receiver.received["on-unsubscribe"][-1]["message"]
        assert refused["status"] == "rjct"
        assert refused["status_reason_code"] == "rjct.event.already_unsubscribed"


async def test_a_district_subscriber_hears_only_of_its_region(settings_for,
                                                              loaded_engine) -> None:
    inside, outside = await _households(loaded_engine)
    async with partnered(settings_for, loaded_engine, Role.DISTRICT,
                         ("33.14.06",)) as partner:
        await _subscribe(partner, _criteria("DesilChange", filter_type=None, filter={}))
        await _happen(loaded_engine, (changes.DESIL_CHANGED, inside),
                      (changes.DESIL_CHANGED, outside))
        await partner.work()
        events = await _notified(partner)
        assert [e["data"]["reg_records"]["@id"] for e in events] == [
            f"urn:slrt-hub:household:{outside.id}"]


async def test_notifications_wait_for_their_frequency_and_survive_a_restart(
        settings_for, loaded_engine) -> None:
    inside, _ = await _households(loaded_engine)
    now = datetime.now(UTC)
    daily = {"start_time": now.isoformat(), "end_time": (now + timedelta(days=30)).isoformat(),
             "frequency": "0 0 0 * * ? *"}
    async with partnered(settings_for, loaded_engine) as partner:
        answer, = await _subscribe(partner, _criteria("Death", frequency=daily))
        assert answer["subscriptions"][0]["frequency"]["frequency"] == "0 0 0 * * ? *"
        await _happen(loaded_engine, (changes.DEATH, inside))
        await partner.work()
        assert partner.receiver.received["notify"] == []  # due at midnight, not now

        # The hub stops; another process starts on the same database after midnight.
        await partner.restart()
        later = datetime.now(UTC) + timedelta(days=1)
        worker = partner.hub.app.state.dci_worker
        worker.notifier.clock = worker.dispatcher.clock = lambda: later
        await partner.work()
        events = await _notified(partner)
        assert len(events) == 1
        assert events[0]["registry_event"]["type"] == "ns:slrt:RegistryEventType:Death"
        await partner.work()
        assert len(await _notified(partner)) == 1


async def test_bad_subscriptions_are_refused_with_their_reason(settings_for,
                                                               loaded_engine) -> None:
    async with partnered(settings_for, loaded_engine) as partner:
        answers = await _subscribe(
            partner, _criteria("Birthday"),
            _criteria(frequency={"start_time": "2026-01-01T00:00:00+07:00",
                                 "end_time": "2027-01-01T00:00:00+07:00",
                                 "frequency": "every tuesday"}),
            _criteria("Death"), _criteria("Death"))
        assert [a["status"] for a in answers] == ["rjct", "rjct", "succ", "rjct"]
        assert [a.get("status_reason_code") for a in answers] == [
            "rjct.notify_types.invalid", "rjct.notify_details.invalid", None,
            "rjct.event.already_subscribed"]
        assert "Birthday" in answers[0]["status_reason_message"]


async def test_an_idle_subscription_costs_no_write(settings_for, loaded_engine) -> None:
    from hub.db.models import DciSubscription

    inside, _ = await _households(loaded_engine)
    async with partnered(settings_for, loaded_engine) as partner:
        answer, = await _subscribe(partner, _criteria("DesilChange"))
        code = answer["subscriptions"][0]["code"]

        async def due() -> Any:
            async with loaded_engine.connect() as conn:
                return (await conn.execute(select(DciSubscription.next_due_at).where(
                    DciSubscription.code == code))).scalar_one()

        before = await due()
        await partner.work()
        await partner.work()
        assert await due() == before  # nothing new: not claimed, not written
        await _happen(loaded_engine, (changes.DESIL_CHANGED, inside))
        await partner.work()
        assert await due() != before
        assert len(await _notified(partner)) == 1
