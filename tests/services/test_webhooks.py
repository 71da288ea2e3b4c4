"""Agencies are told: each new referral reaches the agency's webhook (the simulators act
as the receiving agencies, over real HTTP on 127.0.0.1), signed, once, through a
receiver that is down for a while, dead-lettered after the last try and retried by
hand; agencies answer through a signed callback."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
import uvicorn
from sqlalchemy import select, update

from hub.access.roles import Role
from hub.app import create_app
from hub.backoff import backoff
from hub.codecs import signing
from hub.config import HubSettings
from hub.db.models import Referral, WebhookDelivery
from hub.services.webhooks import WebhookDispatcher
from hub.simulators.serve import running
from tests.access.conftest import Hub, open_hub, people_in
from tests.pg_server import free_ports

REGISTER = """mutation($case: CaseInput!) { registerCase(case: $case) { id ticket } }"""


@pytest.fixture
async def bpjs(small_population) -> AsyncIterator[str]:
    port, = free_ports(1)
    async with running(small_population, "127.0.0.1", {"bpjs": port}) as urls:
        yield urls["bpjs"]


def _settings(settings: HubSettings, agency_url: str, hub_url: str = "http://127.0.0.1:9"
              ) -> HubSettings:
    desk = settings.desk.model_copy(update={
        "agencies": {"bpjs": settings.desk.agencies["bpjs"].model_copy(
            update={"webhook_url": f"{agency_url}/slrt/referrals"})},
        "callback_base_url": hub_url, "webhook_attempts": 4,
        "webhook_backoff_seconds": 1, "webhook_backoff_max_seconds": 4})
    return settings.model_copy(update={"desk": desk})


@pytest.fixture
async def desk_hub(settings_for, loaded_engine, bpjs) -> AsyncIterator[Hub]:
    opened = await open_hub(_settings(settings_for, bpjs), loaded_engine)
    yield opened
    await opened.close()


async def _referred(hub: Hub, count: int = 1) -> list[int]:
    """Cases with a KIS referral, approved: referred to BPJS, a delivery queued each."""
    district = await hub.client(Role.DISTRICT, ("33.14",))
    ids = []
    for person in await people_in(hub.engine, "33.14.05", count):
        case = (await district.data(REGISTER, case={
            "kind": "COMPLAINT", "category": "HEALTH", "channel": "WALK_IN",
            "urgency": "URGENT", "description": "no KIS", "nik": person.nik}))["registerCase"]
        referral = (await district.data('mutation($c: ID!) { recommendReferral(caseId: $c, '
                                        'service: "KIS_PBI") { id } }', c=case["id"]))
        rid = referral["recommendReferral"]["id"]
        await district.data("mutation($id: ID!) { approveReferral(id: $id) { id } }", id=rid)
        ids.append(int(rid))
    return ids


async def _deliveries(hub: Hub, referrals: list[int]) -> list[Any]:
    async with hub.engine.connect() as conn:
        return (await conn.execute(select(WebhookDelivery.__table__).where(
            WebhookDelivery.referral_id.in_(referrals)).order_by(
            WebhookDelivery.referral_id))).mappings().all()


async def _simulator(url: str, path: str, payload: Any = None) -> Any:
    async with aiohttp.ClientSession() as session:
        if payload is None:
            async with session.get(url + path) as response:
                return await response.json()
        async with session.post(url + path, json=payload) as response:
            return await response.json()


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [backoff(n, 2, 60) for n in range(1, 8)] == [2, 4, 8, 16, 32, 60, 60]
    rng = random.Random(3)
    equal = [backoff(4, 2, 60, rng, jitter="equal") for _ in range(200)]
    assert all(8 <= wait <= 16 for wait in equal)
    assert len(set(equal)) == 200
    full = [backoff(4, 2, 60, rng) for _ in range(200)]
    assert all(0 <= wait <= 16 for wait in full)
    assert min(full) < 8


async def test_a_new_referral_reaches_its_agency_signed_and_once(desk_hub: Hub, bpjs) -> None:
    referral, = await _referred(desk_hub)
    delivery, = await _deliveries(desk_hub, [referral])
    assert delivery["status"] == "PENDING"
    await WebhookDispatcher(desk_hub.engine, desk_hub.settings).run_once()
    delivery, = await _deliveries(desk_hub, [referral])
    assert delivery["status"] == "DELIVERED"
    received = [r for r in await _simulator(bpjs, "/_sim/referrals")
                if r["referral_id"] == referral]
    assert len(received) == 1
    message = received[0]
    assert message["delivery_id"] == delivery["id"]
    assert message["ticket"].startswith("SLRT-3314-")
    assert message["citizen"]["nik"]
    assert message["callback_url"].endswith("/callbacks/bpjs/referrals")

    # The hub died between sending and recording it: once the claim's hold has passed
    # the message is due again and is sent again; the agency keeps it once.
    async with desk_hub.engine.begin() as conn:
        await conn.execute(update(WebhookDelivery).where(
            WebhookDelivery.id == delivery["id"]).values(
            status="PENDING", next_attempt_at=datetime.now(UTC)))
    await WebhookDispatcher(desk_hub.engine, desk_hub.settings).run_once()
    stats = await _simulator(bpjs, "/_sim/stats")
    assert stats["referral_duplicates"] == 1
    assert len([r for r in await _simulator(bpjs, "/_sim/referrals")
                if r["referral_id"] == referral]) == 1

    # A forged message is refused by the agency.
    async with aiohttp.ClientSession() as session, session.post(
            f"{bpjs}/slrt/referrals", data=b"{}", headers={
                **signing.headers("wrong-secret", int(time.time()), b"{}"),
                "X-SLRT-Delivery": "forged"}) as response:
        assert response.status == 401


async def test_two_replicas_dispatching_at_once_send_each_message_once(
        desk_hub: Hub, bpjs) -> None:
    """Every serve replica runs the dispatcher: a due message is claimed by one of them,
    and the other leaves it."""
    referrals = await _referred(desk_hub, 4)
    first, second = (WebhookDispatcher(desk_hub.engine, desk_hub.settings) for _ in range(2))
    counts = await asyncio.gather(first.run_once(), second.run_once())
    assert sum(c["delivered"] for c in counts) == 4
    assert {r["status"] for r in await _deliveries(desk_hub, referrals)} == {"DELIVERED"}
    assert {r["attempts"] for r in await _deliveries(desk_hub, referrals)} == {1}
    received = [r["referral_id"] for r in await _simulator(bpjs, "/_sim/referrals")]
    assert sorted(r for r in received if r in referrals) == sorted(referrals)
    assert (await _simulator(bpjs, "/_sim/stats")).get("referral_duplicates", 0) == 0


async def test_a_receiver_down_for_a_while_loses_nothing(desk_hub: Hub, bpjs) -> None:
    await _simulator(bpjs, "/_sim/faults", {"error_rate": 1.0})  # the agency is down
    referrals = await _referred(desk_hub, 3)
    moment = [datetime.now(UTC)]
    dispatcher = WebhookDispatcher(desk_hub.engine, desk_hub.settings, clock=lambda: moment[0])
    for attempt in range(1, 4):  # three failed tries, the waits doubling, not in lockstep
        await dispatcher.run_once()
        rows = await _deliveries(desk_hub, referrals)
        assert {r["status"] for r in rows} == {"PENDING"}
        assert {r["attempts"] for r in rows} == {attempt}
        assert all("503" in r["last_error"] for r in rows)
        waits = [(r["next_attempt_at"].replace(tzinfo=UTC) - moment[0]).total_seconds()
                 for r in rows]
        ceiling = backoff(attempt, 1, 4)
        assert all(ceiling / 2 <= wait <= ceiling for wait in waits), waits
        assert len(set(waits)) == len(waits), "three deliveries retry at the same instant"
        await dispatcher.run_once()  # not due yet: nothing is sent early
        assert {r["attempts"] for r in await _deliveries(desk_hub, referrals)} == {attempt}
        moment[0] += timedelta(seconds=10)
    await _simulator(bpjs, "/_sim/faults", {})  # back up
    await dispatcher.run_once()
    assert {r["status"] for r in await _deliveries(desk_hub, referrals)} == {"DELIVERED"}
    received = [r["referral_id"] for r in await _simulator(bpjs, "/_sim/referrals")]
    assert sorted(r for r in received if r in referrals) == sorted(referrals)


async def test_the_last_failure_dead_letters_and_a_retry_delivers(desk_hub: Hub, bpjs) -> None:
    await _simulator(bpjs, "/_sim/faults", {"error_rate": 1.0})
    referral, = await _referred(desk_hub)
    moment = [datetime.now(UTC)]
    dispatcher = WebhookDispatcher(desk_hub.engine, desk_hub.settings, clock=lambda: moment[0])
    for _ in range(4):
        await dispatcher.run_once()
        moment[0] += timedelta(seconds=10)
    dead, = await _deliveries(desk_hub, [referral])
    assert dead["status"] == "DEAD"
    assert dead["attempts"] == 4
    district = await desk_hub.client(Role.DISTRICT, ("33.14",))
    letters = await district.data('{ webhookDeliveries(status: "DEAD", agency: "bpjs") '
                                  '{ id referralId attempts lastError } }')
    assert dead["id"] in {d["id"] for d in letters["webhookDeliveries"]}
    await _simulator(bpjs, "/_sim/faults", {})
    retried = await district.data('mutation($id: ID!) { retryWebhookDelivery(id: $id) '
                                  '{ status attempts } }', id=dead["id"])
    assert retried["retryWebhookDelivery"] == {"status": "PENDING", "attempts": 0}
    await dispatcher.run_once()
    assert (await _deliveries(desk_hub, [referral]))[0]["status"] == "DELIVERED"
    other = await desk_hub.client(Role.DISTRICT, ("33.15",))
    assert (await other.data('{ webhookDeliveries { id } }'))["webhookDeliveries"] == []


def _signed(body: dict, secret: str = "bpjs-webhook-secret", skew: int = 0) -> tuple:
    raw = json.dumps(body).encode()
    return raw, {"content-type": "application/json",
                 **signing.headers(secret, int(time.time()) + skew, raw)}


async def test_signed_callbacks_move_the_referral_and_replays_are_harmless(
        desk_hub: Hub) -> None:
    referral, = await _referred(desk_hub)
    http = desk_hub.clients[0].http
    url = "/callbacks/bpjs/referrals"
    body, headers = _signed({"referral_id": referral, "status": "ACCEPTED",
                             "officer": "Petugas BPJS"})
    accepted = await http.post(url, content=body, headers=headers)
    assert accepted.json() == {"result": "recorded", "status": "ACCEPTED"}
    replay = await http.post(url, content=body, headers=headers)
    assert replay.json()["result"] == "unchanged"
    for bad, status in ((_signed({"referral_id": referral, "status": "FULFILLED"},
                                 secret="nope"), 401),
                        (_signed({"referral_id": referral, "status": "FULFILLED"},
                                 skew=-3600), 401),
                        (_signed({"referral_id": referral, "status": "MAYBE"}), 400),
                        (_signed({"referral_id": 10**9, "status": "FULFILLED"}), 404)):
        response = await http.post(url, content=bad[0], headers=bad[1])
        assert response.status_code == status, response.text
    too_early = await http.post(url.replace("bpjs", "nobody"), content=body, headers=headers)
    assert too_early.status_code == 404
    rejected = _signed({"referral_id": referral, "status": "REJECTED", "reason": "late"})
    conflict = await http.post(url, content=rejected[0], headers=rejected[1])
    assert conflict.status_code == 409
    assert "ACCEPTED referral cannot become REJECTED" in conflict.json()["error"]
    async with desk_hub.engine.connect() as conn:
        status = (await conn.execute(select(Referral.status).where(
            Referral.id == referral))).scalar_one()
    assert status == "ACCEPTED"


async def test_the_agency_answers_through_its_callback_end_to_end(
        settings_for, loaded_engine, bpjs) -> None:
    """The hub on a real socket: approve, the webhook reaches the simulated BPJS desk,
    which calls back; the referral is ACCEPTED with no one touching it."""
    port, = free_ports(1)
    settings = _settings(settings_for, bpjs, f"http://127.0.0.1:{port}")
    hub = await open_hub(settings, loaded_engine)
    server = uvicorn.Server(uvicorn.Config(create_app(settings, engine=loaded_engine),
                                           host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    try:
        for _ in range(200):  # uvicorn says it has started by a flag, not an event
            if server.started:
                break
            await asyncio.sleep(0.05)
        await _simulator(bpjs, "/_sim/referrals/answer", {"status": "ACCEPTED"})
        referral, = await _referred(hub)
        await WebhookDispatcher(loaded_engine, settings).run_once()
        for _ in range(100):
            async with loaded_engine.connect() as conn:
                status = (await conn.execute(select(Referral.status).where(
                    Referral.id == referral))).scalar_one()
            if status == "ACCEPTED":
                break
            await asyncio.sleep(0.05)
        assert status == "ACCEPTED"
    finally:
        server.should_exit = True
        await serving
        await hub.close()
