"""GraphQL over WebSocket (graphql-transport-ws) against the real server process:
authenticated on connect, the same role rules as HTTP, a cap per connection, and a
subscription that delivers what changes in the database."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.test_live_server import create_client, serving

PROTOCOL = "graphql-transport-ws"
RUNS = "subscription { syncRunUpdates { connector status counts { fetched } } }"


@pytest.fixture(scope="module")
def ws_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    database = tmp_path_factory.mktemp("ws") / "hub.db"
    env = {**os.environ, "HUB_DATABASE__URL": f"sqlite+aiosqlite:///{database}",
           "HUB_SCHEDULE__ENABLED": "false",
           "HUB_ACCESS__CONNECTION_INIT_TIMEOUT_SECONDS": "1",
           "HUB_ACCESS__MAX_SUBSCRIPTIONS_PER_CONNECTION": "2",
           "HUB_ACCESS__SUBSCRIPTION_POLL_SECONDS": "0.1"}
    subprocess.run([sys.executable, "-m", "hub.cli", "db", "upgrade"], env=env, check=True,
                   capture_output=True, timeout=120)
    keys = {"DISTRICT": create_client(env, "ws-district", "--role", "DISTRICT",
                                      "--region", "33.14"),
            "FACILITATOR": create_client(env, "ws-facilitator", "--role", "FACILITATOR",
                                         "--region", "33.14.05")}
    with serving(env) as base:
        yield {"url": base.replace("http", "ws", 1) + "/graphql", "keys": keys,
               "database": database, "base": base, "env": env}


def create_client_for(hub: dict[str, Any], name: str, *options: str) -> str:
    return create_client(hub["env"], name, *options)


async def _connect(session: aiohttp.ClientSession, hub: dict[str, Any],
                   protocols: tuple[str, ...] = (PROTOCOL,)) -> Any:
    return await session.ws_connect(hub["url"], protocols=protocols)


async def _init(ws: Any, key: str) -> dict[str, Any]:
    await ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}})
    return await ws.receive_json(timeout=5)


async def _closed_with(ws: Any) -> int:
    message = await ws.receive(timeout=5)
    assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), message
    return ws.close_code


async def test_connections_must_speak_the_protocol_and_authenticate(ws_hub) -> None:
    async with aiohttp.ClientSession() as session:
        legacy = await _connect(session, ws_hub, ("graphql-ws",))
        assert await _closed_with(legacy) == 4406
        silent = await _connect(session, ws_hub)
        assert await _closed_with(silent) == 4408  # no connection_init within 1 s
        forged = await _connect(session, ws_hub)
        await forged.send_json({"type": "connection_init",
                                "payload": {"Authorization": "Bearer slrt_000000000000_x"}})
        assert await _closed_with(forged) == 4403
        eager = await _connect(session, ws_hub)
        await eager.send_json({"id": "1", "type": "subscribe", "payload": {"query": RUNS}})
        assert await _closed_with(eager) == 4401
        twice = await _connect(session, ws_hub)
        assert (await _init(twice, ws_hub["keys"]["DISTRICT"]))["type"] == "connection_ack"
        await twice.send_json({"type": "ping"})
        assert (await twice.receive_json(timeout=5))["type"] == "pong"
        await twice.send_json({"type": "connection_init", "payload": {}})
        assert await _closed_with(twice) == 4429
        garbage = await _connect(session, ws_hub)
        await _init(garbage, ws_hub["keys"]["DISTRICT"])
        await garbage.send_str("not json")
        assert await _closed_with(garbage) == 4400


async def test_roles_apply_over_the_socket_as_over_http(ws_hub) -> None:
    async with aiohttp.ClientSession() as session:
        ws = await _connect(session, ws_hub)
        await _init(ws, ws_hub["keys"]["FACILITATOR"])
        await ws.send_json({"id": "q", "type": "subscribe",
                            "payload": {"query": "{ regencies { code } }"}})
        assert (await ws.receive_json(timeout=5))["type"] == "next"
        assert (await ws.receive_json(timeout=5)) == {"id": "q", "type": "complete"}
        await ws.send_json({"id": "s", "type": "subscribe", "payload": {"query": RUNS}})
        refused = await ws.receive_json(timeout=5)
        assert refused["type"] == "error"
        assert refused["payload"][0]["extensions"]["code"] == "FORBIDDEN"
        assert "Subscription.syncRunUpdates" in refused["payload"][0]["message"]
        await ws.close()
        async with session.post(ws_hub["base"] + "/graphql", json={"query": RUNS}, headers={
                "authorization": f"Bearer {ws_hub['keys']['DISTRICT']}"}) as response:
            assert response.status == 400
            assert "WebSocket" in (await response.json())["errors"][0]["message"]


def _write(database: Path, statement: str, *parameters: Any) -> None:
    with sqlite3.connect(database) as db:
        db.execute(statement, parameters)


async def test_a_subscription_delivers_changes_and_the_cap_holds(ws_hub) -> None:
    async with aiohttp.ClientSession() as session:
        ws = await _connect(session, ws_hub)
        await _init(ws, ws_hub["keys"]["DISTRICT"])
        for operation in ("a", "b"):
            await ws.send_json({"id": operation, "type": "subscribe",
                                "payload": {"query": RUNS}})
        await ws.send_json({"id": "c", "type": "subscribe", "payload": {"query": RUNS}})
        capped = await ws.receive_json(timeout=5)
        assert capped["id"] == "c"
        assert capped["payload"][0]["extensions"]["code"] == "SUBSCRIPTION_LIMIT"
        await ws.send_json({"id": "a", "type": "subscribe", "payload": {"query": RUNS}})
        assert await _closed_with(ws) == 4409  # "a" is running already

        ws = await _connect(session, ws_hub)
        await _init(ws, ws_hub["keys"]["DISTRICT"])
        await ws.send_json({"id": "runs", "type": "subscribe", "payload": {"query": RUNS}})
        await asyncio.sleep(0.5)  # the subscription has seen the table as it is
        _write(ws_hub["database"], "INSERT INTO sync_run (connector, stream, status, counts, "
               "started_at) VALUES ('bpjs', 'members', 'RUNNING', ?, CURRENT_TIMESTAMP)",
               json.dumps({"fetched": 0}))
        started = await ws.receive_json(timeout=5)
        assert started["type"] == "next"
        assert started["payload"]["data"]["syncRunUpdates"] == {
            "connector": "bpjs", "status": "RUNNING", "counts": {"fetched": 0}}
        _write(ws_hub["database"], "UPDATE sync_run SET status = 'SUCCEEDED', counts = ? "
               "WHERE connector = 'bpjs'", json.dumps({"fetched": 120}))
        finished = await ws.receive_json(timeout=5)
        assert finished["payload"]["data"]["syncRunUpdates"]["status"] == "SUCCEEDED"
        assert finished["payload"]["data"]["syncRunUpdates"]["counts"] == {"fetched": 120}
        await ws.send_json({"id": "runs", "type": "complete"})
        await ws.send_json({"type": "ping"})
        assert (await ws.receive_json(timeout=5))["type"] == "pong"
        await ws.close()


def _referral(database: Path, agency: str) -> int:
    """A case and a referral to `agency`, written as the desk would, now."""
    from datetime import UTC, datetime

    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(database) as db:
        case = db.execute(
            "INSERT INTO service_case (ticket, region_code, in_dtks, home_visit, kind, "
            "category, channel, urgency, description, status, registered_by, created_at, "
            "first_response_due) VALUES (?, '33.14.05.2001', 0, 1, 'COMPLAINT', 'HEALTH', "
            "'WALK_IN', 'NORMAL', 'x', 'IN_PROGRESS', 'test', ?, ?)",
            (f"T-{agency}-{now}", now, now)).lastrowid
        return db.execute(
            "INSERT INTO referral (case_id, service, agency, region_code, status, created_at, "
            "updated_at) VALUES (?, 'KIS_PBI', ?, '33.14.05.2001', 'REFERRED', ?, ?)",
            (case, agency, now, now)).lastrowid


async def test_an_agency_desk_subscribes_to_its_referrals(ws_hub) -> None:
    key = create_client_for(ws_hub, "ws-bpjs", "--role", "AGENCY", "--agency", "bpjs",
                            "--region", "33.14")
    async with aiohttp.ClientSession() as session:
        ws = await _connect(session, ws_hub)
        await _init(ws, key)
        await ws.send_json({"id": "desk", "type": "subscribe", "payload": {
            "query": "subscription { referralUpdates { id agency status } }"}})
        await asyncio.sleep(0.4)
        other = _referral(ws_hub["database"], "education")
        mine = _referral(ws_hub["database"], "bpjs")
        message = await ws.receive_json(timeout=5)
        assert message["payload"]["data"]["referralUpdates"] == {
            "id": str(mine), "agency": "bpjs", "status": "REFERRED"}
        with pytest.raises(asyncio.TimeoutError):
            await ws.receive_json(timeout=0.6)  # education's referral never arrives
        assert other != mine
        await ws.close()
