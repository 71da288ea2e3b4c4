"""Asynchronous DCI search and transaction status, signatures and the sender registry:
a partner with its own key and a real callback receiver on 127.0.0.1. Every message the
partner sends and every one the hub sends back is checked against the specification."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from hub.access.roles import Role
from hub.crypto import signatures
from hub.db.models import AuditLog, DciCallback
from tests.access.conftest import people_in
from tests.dci.partner import SENDER, Partner, partnered
from tests.dci.spec import request_problems, response_problems
from tests.schema.helpers import GraphQLClient, register


def _search_message(*items: dict[str, Any]) -> dict[str, Any]:
    return {"transaction_id": uuid.uuid4().hex[:20], "search_request": list(items)}


def _by_nik(nik: str) -> dict[str, Any]:
    return {"reference_id": uuid.uuid4().hex[:12], "timestamp": datetime.now(UTC).isoformat(),
            "search_criteria": {"version": "1.0.0", "reg_type": "ns:org:RegistryType:Social",
                                "query_type": "idtype-value",
                                "query": {"type": "NIK", "value": nik}}}


async def _ack(partner: Partner, path: str, body: dict[str, Any], status: int = 200) -> dict:
    assert request_problems("social", "/registry/" + path, body) == []
    response = await partner.post(path, body)
    assert response.status_code == status, response.text
    reply = response.json()
    assert response_problems("social", "/registry/" + path, reply) == [], reply
    return reply["message"]


async def _verified(partner: Partner, path: str, body: dict[str, Any]) -> None:
    """A callback the hub sent: fits the spec, and its signature is the hub's."""
    assert request_problems("social", "/registry/" + path, body) == [], body
    kid = signatures.verify(body["signature"], body["header"], body.get("message"),
                            "slrt-hub", await partner.hub_keys(), int(time.time()))
    assert kid


async def test_async_search_is_acknowledged_then_answered_signed_at_the_callback(
        settings_for, loaded_engine) -> None:
    person, = await people_in(loaded_engine, "33.14.05", 1)
    async with partnered(settings_for, loaded_engine) as partner:
        message = _search_message(_by_nik(person.nik))
        body = partner.envelope("search", message)
        ack = await _ack(partner, "search", body)
        assert ack["ack_status"] == "ACK"
        assert ack["correlation_id"] == body["header"]["message_id"]
        assert partner.receiver.received == {}  # answered later, not in the reply
        done = await partner.work()
        assert done["processed"] == 1
        assert done["delivered"] == 1
        callback, = partner.receiver.received["on-search"]
        await _verified(partner, "on-search", callback)
        assert callback["header"]["action"] == "on-search"
        assert callback["header"]["receiver_id"] == SENDER
        answer = callback["message"]
        assert answer["correlation_id"] == body["header"]["message_id"]
        assert answer["transaction_id"] == message["transaction_id"]
        item, = answer["search_response"]
        assert item["status"] == "succ"
        members = item["data"]["reg_records"][0]["member_list"]
        assert person.nik in {m["member_identifier"][0]["identifier_value"] for m in members}
        assert (await partner.work())["delivered"] == 0  # sent once


async def test_txn_status_reports_pending_then_the_answer_sync_and_async(
        settings_for, loaded_engine) -> None:
    person, = await people_in(loaded_engine, "33.14.05", 1)
    async with partnered(settings_for, loaded_engine) as partner:
        search = _by_nik(person.nik)
        message = _search_message(search)
        await _ack(partner, "search", partner.envelope("search", message))

        def question(attribute: str, value: Any) -> dict[str, Any]:
            return {"transaction_id": uuid.uuid4().hex[:20], "txnstatus_request": {
                "reference_id": uuid.uuid4().hex[:12], "txn_type": "search",
                "attribute_type": attribute, "attribute_value": value}}

        async def sync_status(attribute: str, value: Any) -> dict[str, Any]:
            body = partner.envelope("txn-status", question(attribute, value))
            assert request_problems("social", "/registry/sync/txn/status", body) == []
            response = await partner.post("sync/txn/status", body)
            assert response.status_code == 200, response.text
            reply = response.json()
            assert response_problems("social", "/registry/sync/txn/status", reply) == [], reply
            assert reply["header"]["action"] == "txn-on-status"
            return reply["message"]["txnstatus_response"]["txn_status"]

        pending = await sync_status("reference_id_list", [search["reference_id"]])
        assert [i["status"] for i in pending["search_response"]] == ["pdng"]
        await partner.work()
        done = await sync_status("transaction_id", message["transaction_id"])
        assert done["search_response"][0]["status"] == "succ"
        assert done["search_response"][0]["data"]["reg_records"]
        unknown = await sync_status("correlation_id", "no-such-message")
        assert unknown["search_response"][0]["status_reason_code"] == \
            "rjct.reference_id.invalid"
        await partner.hub.flush_audit()
        async with loaded_engine.connect() as conn:
            entries = (await conn.execute(select(AuditLog.entry).where(
                AuditLog.operation.like("dci registry/txn/status%")))).scalars().all()
        assert any(person.nik in entry for entry in entries)  # a read, audited

        # Another client speaking as the same sender does not see this client's answers.
        _, other_key = await register(loaded_engine, Role.NATIONAL)
        other = GraphQLClient(partner.hub.app, other_key)
        partner.hub.clients.append(other)
        body = partner.envelope("txn-status", question("transaction_id",
                                                       message["transaction_id"]))
        reply = (await other.http.post("/dci/registry/sync/txn/status", json=body)).json()
        hidden = reply["message"]["txnstatus_response"]["txn_status"]["search_response"]
        assert hidden[0]["status_reason_code"] == "rjct.reference_id.invalid"

        body = partner.envelope("txn-status", question("transaction_id",
                                                       message["transaction_id"]),
                                sender_uri=partner.receiver.base)
        assert (await _ack(partner, "txn/status", body))["ack_status"] == "ACK"
        await partner.work()
        callback, = partner.receiver.received["txn/on-status"]
        await _verified(partner, "txn/on-status", callback)
        assert callback["message"]["txnstatus_response"]["txn_status"][
            "search_response"][0]["status"] == "succ"


async def test_callbacks_only_to_registered_hosts(settings_for, loaded_engine) -> None:
    async with partnered(settings_for, loaded_engine) as partner:
        message = _search_message(_by_nik("3314050101800001"))
        elsewhere = partner.envelope("search", message,
                                     sender_uri="http://127.0.0.1:1/dci/registry/on-search")
        refused = await _ack(partner, "search", elsewhere, 403)
        assert refused["ack_status"] == "ERR"
        assert refused["error"]["code"] == "err.sender_uri.invalid"
        without = partner.envelope("search", message)
        del without["header"]["sender_uri"]
        without["signature"] = signatures.sign("header", partner.signer, without["header"],
                                               message, int(time.time()))
        assert (await _ack(partner, "search", without, 400))["error"]["code"] == \
            "err.sender_uri.invalid"
        wrong_count = partner.envelope("search", message, total=3)
        refused = await _ack(partner, "search", wrong_count, 400)
        assert refused["error"]["message"].startswith("rjct.total_count.invalid")


async def test_a_failing_receiver_is_retried_then_dead_lettered(
        settings_for, loaded_engine) -> None:
    async with partnered(settings_for, loaded_engine) as partner:
        partner.receiver.failures = 1
        await _ack(partner, "search", partner.envelope(
            "search", _search_message(_by_nik("3314050101800001"))))
        assert (await partner.work())["retrying"] == 1
        await asyncio.sleep(0.05)  # the first backoff is 10 ms here
        assert (await partner.work())["delivered"] == 1
        assert len(partner.receiver.received["on-search"]) == 1

        partner.receiver.failures = 10
        await _ack(partner, "search", partner.envelope(
            "search", _search_message(_by_nik("3314050101800002"))))
        outcomes = []
        for _ in range(3):
            outcomes.append(await partner.work())
            await asyncio.sleep(0.1)
        assert outcomes[-1]["dead"] == 1
        async with loaded_engine.connect() as conn:
            dead = (await conn.execute(select(DciCallback.attempts, DciCallback.last_error)
                                       .where(DciCallback.status == "DEAD"))).all()
        assert dead
        assert dead[-1].attempts == 3
        assert "HTTP 503" in dead[-1].last_error


async def test_signatures_are_required_where_configured_and_checked_always(
        settings_for, loaded_engine) -> None:
    person, = await people_in(loaded_engine, "33.14.05", 1)
    async with partnered(settings_for, loaded_engine, require_signature=True) as partner:
        message = _search_message(_by_nik(person.nik))
        unsigned = await partner.post("sync/search", partner.envelope("search", message,
                                                                      signed=False))
        assert unsigned.status_code == 401
        assert unsigned.json()["errors"][0]["code"] == "err.signature.missing"
        tampered = partner.envelope("search", message)
        tampered["message"]["search_request"][0]["search_criteria"]["query"]["value"] = \
            "3314050101800009"
        refused = await partner.post("sync/search", tampered)
        assert refused.status_code == 401
        assert refused.json()["errors"][0]["code"] == "err.signature.invalid"
        for scheme in ("header", "jws"):
            partner.scheme = scheme
            signed = await partner.post("sync/search", partner.envelope("search", message))
            assert signed.status_code == 200, signed.text
            reply = signed.json()
            kid = signatures.verify(reply["signature"], reply["header"], reply["message"],
                                    "slrt-hub", await partner.hub_keys(), int(time.time()))
            assert kid


async def test_who_may_send_as_a_sender(settings_for, loaded_engine) -> None:
    async with partnered(settings_for, loaded_engine, clients=["someone-else"]) as partner:
        body = partner.envelope("search", _search_message(_by_nik("3314050101800001")))
        refused = await partner.post("sync/search", body)
        assert refused.status_code == 403
        assert refused.json()["errors"][0]["code"] == "err.sender_id.invalid"
    async with partnered(settings_for, loaded_engine) as partner:
        stranger = partner.envelope("search", _search_message(_by_nik("3314050101800001")),
                                    sender_id="stranger.example")
        refused = await partner.post("sync/search", stranger)  # signed by an unknown sender
        assert refused.status_code == 401
        assert "not registered" in refused.json()["errors"][0]["message"]


async def test_a_string_total_count_only_where_tolerated(settings_for, loaded_engine) -> None:
    person, = await people_in(loaded_engine, "33.14.05", 1)
    message = _search_message(_by_nik(person.nik))
    async with partnered(settings_for, loaded_engine) as partner:
        body = partner.envelope("search", message, signed=False, total="1")
        strict = await partner.post("sync/search", body)
        assert strict.status_code == 400
        assert strict.json()["header"]["status_reason_code"] == "rjct.total_count.invalid"
    async with partnered(settings_for, loaded_engine,
                         tolerate=["string_total_count"]) as partner:
        body = partner.envelope("search", message, signed=False, total="1")
        assert (await partner.post("sync/search", body)).status_code == 200


async def test_a_district_client_gets_only_its_region_asynchronously(
        settings_for, loaded_engine) -> None:
    outside, = await people_in(loaded_engine, "33.14.06", 1)
    async with partnered(settings_for, loaded_engine, Role.DISTRICT, ("33.14.05",)) as partner:
        await _ack(partner, "search", partner.envelope(
            "search", _search_message(_by_nik(outside.nik))))
        await partner.work()
        callback, = partner.receiver.received["on-search"]
        item, = callback["message"]["search_response"]
        assert item["data"]["reg_records"] == []
        assert item["pagination"]["total_count"] == 0


async def test_a_sender_has_its_own_rate_limit_and_encryption_is_refused(
        settings_for, loaded_engine) -> None:
    person, = await people_in(loaded_engine, "33.14.05", 1)
    message = _search_message(_by_nik(person.nik))
    async with partnered(settings_for, loaded_engine, rate_per_minute=2) as partner:
        statuses = [(await partner.post("sync/search", partner.envelope("search", message))
                     ).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
    async with partnered(settings_for, loaded_engine) as partner:
        sealed = partner.envelope("search", message, is_msg_encrypted=True)
        refused = await partner.post("sync/search", sealed)
        assert refused.status_code == 400
        assert refused.json()["header"]["status_reason_code"] == "rjct.action.not_supported"


async def test_answers_are_forgotten_after_their_retention(settings_for,
                                                          loaded_engine) -> None:
    from hub.db.models import DciTransaction
    from hub.dci.worker import purge

    async with partnered(settings_for, loaded_engine) as partner:
        await _ack(partner, "search", partner.envelope(
            "search", _search_message(_by_nik("3314050101800001"))))
        await _ack(partner, "search", partner.envelope(
            "search", _search_message(_by_nik("3314050101800002"))))
        async with loaded_engine.connect() as conn:
            before = (await conn.execute(select(func.count()).select_from(DciTransaction)
                                         .where(DciTransaction.status == "pdng"))).scalar_one()
        assert before >= 2
        await partner.work()  # answered and delivered
        assert await purge(loaded_engine, datetime.now(UTC) + timedelta(seconds=1)) >= 4
        async with loaded_engine.connect() as conn:
            left = (await conn.execute(select(func.count()).select_from(DciTransaction))
                    ).scalar_one()
            kept = (await conn.execute(select(func.count()).select_from(DciCallback).where(
                DciCallback.status != "PENDING"))).scalar_one()
        assert left == 0
        assert kept == 0
