"""Leases, schedules, and two scheduler processes on one PostgreSQL: one leads, no job
runs twice at once, and the other takes over when the leader is killed."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.config import HubSettings
from hub.db.models import Lease, SyncRequest, SyncRun
from hub.schedules import parse_schedule
from hub.sync.leases import LeaseHeld, acquire, held, release
from hub.sync.scheduler import HubScheduler
from tests.conftest import Databases


def test_schedules_parse_intervals_and_crontab_lines() -> None:
    assert isinstance(parse_schedule("every 15m"), IntervalTrigger)
    assert parse_schedule("every 2h").interval == timedelta(hours=2)
    assert isinstance(parse_schedule("0 2 * * *"), CronTrigger)
    with pytest.raises(ValueError, match="neither"):
        parse_schedule("every other day")


async def test_a_lease_has_one_holder_until_it_expires(hub_engine: AsyncEngine) -> None:
    assert await acquire(hub_engine, "job", "a", 30)
    assert not await acquire(hub_engine, "job", "b", 30)
    assert await acquire(hub_engine, "job", "a", 30)  # renewal
    async with hub_engine.begin() as conn:  # a holder that stopped renewing
        await conn.execute(update(Lease).values(expires_at=datetime.now(UTC)
                                                - timedelta(seconds=1)))
    assert await acquire(hub_engine, "job", "b", 30)
    await release(hub_engine, "job", "a")  # not a's any more: nothing happens
    assert not await acquire(hub_engine, "job", "a", 30)
    with pytest.raises(LeaseHeld, match=r"job is held by b until \d{4}-\d\d-\d\d"):
        async with held(hub_engine, "job", "c", 30):
            pass
    await release(hub_engine, "job", "b")
    async with held(hub_engine, "job", "c", 3):
        await asyncio.sleep(2.5)  # most of its 3 s life: the heartbeat renews it
        async with hub_engine.connect() as conn:
            expires = (await conn.execute(select(Lease.expires_at))).scalar_one()
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        assert expires > datetime.now(UTC)


async def test_a_queued_sync_is_run_by_the_leader(hub_engine: AsyncEngine,
                                                  hub_settings: HubSettings) -> None:
    settings = hub_settings.model_copy(update={"schedule": hub_settings.schedule.model_copy(
        update={"connectors": {}, "poll_seconds": 0.2, "lease_seconds": 6})})
    async with hub_engine.begin() as conn:
        await conn.execute(SyncRequest.__table__.insert().values(connector="baznas",
                                                                  full=False, status="QUEUED"))
    scheduler = HubScheduler(hub_engine, settings, holder="test-leader")
    scheduler.start()
    try:
        status = "QUEUED"
        for _ in range(300):
            await asyncio.sleep(0.1)
            async with hub_engine.connect() as conn:
                status = (await conn.execute(select(SyncRequest.status))).scalar_one()
            if status in ("DONE", "FAILED"):
                break
        assert status == "DONE"
        assert scheduler.leader
        async with hub_engine.connect() as conn:
            runs = (await conn.execute(select(SyncRun.connector, SyncRun.status))).all()
        assert ("baznas", "SUCCEEDED") in runs
        assert ("reconcile", "SUCCEEDED") in runs
    finally:
        await scheduler.stop()


async def test_a_lease_of_a_process_gone_from_this_host_is_taken_at_once(
        hub_engine: AsyncEngine) -> None:
    """After a crash, the next command on the same host does not wait for the lease to
    expire: the holder's process is gone. A live holder, or one on another host, is
    left to its expiry."""
    dead = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await dead.wait()
    host = socket.gethostname()
    assert await acquire(hub_engine, "sync:dtks", f"{host}:{dead.pid}:0123abcd", 60)
    assert await acquire(hub_engine, "sync:dtks", f"{host}:{os.getpid()}:feedbeef", 60)
    alive = await asyncio.create_subprocess_exec(sys.executable, "-c",
                                                 "import time; time.sleep(30)")
    try:
        assert await acquire(hub_engine, "sync:bpjs", f"{host}:{alive.pid}:0123abcd", 60)
        assert not await acquire(hub_engine, "sync:bpjs", f"{host}:{os.getpid()}:0", 60)
    finally:
        alive.kill()
        await alive.wait()
    assert await acquire(hub_engine, "sync:baznas", f"elsewhere:{dead.pid}:0123abcd", 60)
    assert not await acquire(hub_engine, "sync:baznas", f"{host}:{os.getpid()}:0", 60)


async def test_a_request_whose_scheduler_died_runs_again_once(
        hub_engine: AsyncEngine, hub_settings: HubSettings) -> None:
    """The leader died while running a queued sync: the request stayed RUNNING forever.
    Its runner holds no lease any more, so the next leader queues it again and runs it;
    one whose runner is alive is left alone; one that was started too often fails."""
    settings = hub_settings.model_copy(update={"schedule": hub_settings.schedule.model_copy(
        update={"connectors": {}, "lease_seconds": 30})})
    async with hub_engine.begin() as conn:
        await conn.execute(SyncRequest.__table__.insert(), [
            {"connector": "baznas", "full": False, "status": "RUNNING",
             "runner": "gone-host:4242:dead", "attempts": 1},
            {"connector": "baznas", "full": False, "status": "RUNNING",
             "runner": "busy-host:1:alive", "attempts": 1},
            {"connector": "baznas", "full": False, "status": "RUNNING",
             "runner": "gone-host:4242:dead", "attempts": 3},
        ])
    assert await acquire(hub_engine, "sync:education", "busy-host:1:alive", 30)
    scheduler = HubScheduler(hub_engine, settings, holder="test-leader")
    await scheduler._campaign()
    assert scheduler.leader
    await scheduler._queued()  # requeues the orphan, then runs the oldest queued one
    async with hub_engine.connect() as conn:
        rows = (await conn.execute(select(
            SyncRequest.status, SyncRequest.attempts, SyncRequest.runner, SyncRequest.error)
            .order_by(SyncRequest.id))).all()
    assert rows[0].status == "DONE"
    assert rows[0].attempts == 2
    assert rows[0].runner == "test-leader"
    assert (rows[1].status, rows[1].runner) == ("RUNNING", "busy-host:1:alive")
    assert rows[2].status == "FAILED"
    assert "stopped while running it, 3 time(s)" in rows[2].error
    await scheduler.stop()


async def test_a_lead_survives_a_renewal_that_fails_until_its_lease_would_expire(
        hub_engine: AsyncEngine, hub_settings: HubSettings) -> None:
    """A busy or briefly unreachable database fails a renewal; the lease is still ours
    in the database, so the lead does not flap. Past the lease's end it stops."""
    from hub.db.engine import create_engine

    scheduler = HubScheduler(hub_engine, hub_settings, holder="steady")
    await scheduler._campaign()
    assert scheduler.leader
    away = create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    scheduler.engine = away
    try:
        await scheduler._campaign()
        assert scheduler.leader  # renewal failed, the lease has time left
        scheduler._lease_until = time.monotonic() - 1
        await scheduler._campaign()
        assert not scheduler.leader  # it would have expired: no longer leading
    finally:
        scheduler.engine = hub_engine
        await away.dispose()


def _spawn(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hub.cli", "schedule"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


async def _holder(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return (await conn.execute(select(Lease.holder).where(Lease.name == "scheduler"))
                ).scalar_one_or_none()


async def _wait_for(condition: Callable[[], Awaitable[object]], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await condition():
            return
        await asyncio.sleep(0.25)
    raise AssertionError("condition not met in time")


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_two_replicas_one_leader_no_double_run_and_takeover(
        backend: str, databases: Databases, hub_engine: AsyncEngine,
        agencies: dict[str, str], empty_database_url: str) -> None:
    env = {**os.environ, "HUB_DATABASE__URL": empty_database_url,
           "HUB_SCHEDULE__LEASE_SECONDS": "5", "HUB_SCHEDULE__POLL_SECONDS": "0.5",
           "HUB_SCHEDULE__CONNECTORS": '{"bpjs": "every 2s"}'}
    for name, url in agencies.items():
        env[f"HUB_CONNECTORS__{name.upper()}__BASE_URL"] = url
    first = _spawn(env)
    second = None
    try:
        await _wait_for(lambda: _holder(hub_engine), 30)
        leader = await _holder(hub_engine)
        assert leader is not None
        assert leader.split(":")[1] == str(first.pid)
        second = _spawn(env)

        async def some_runs() -> bool:
            async with hub_engine.connect() as conn:
                return len((await conn.execute(select(SyncRun.id).where(
                    SyncRun.connector == "bpjs", SyncRun.status == "SUCCEEDED"))).all()) >= 3
        await _wait_for(some_runs, 60)
        assert await _holder(hub_engine) == leader

        first.send_signal(signal.SIGKILL)
        first.wait()
        killed_at = datetime.now(UTC)

        async def taken_over() -> bool:
            holder = await _holder(hub_engine)
            return holder is not None and holder.split(":")[1] == str(second.pid)
        await _wait_for(taken_over, 30)

        async def runs_after_takeover() -> bool:
            async with hub_engine.connect() as conn:
                finished = (await conn.execute(select(SyncRun.finished_at).where(
                    SyncRun.connector == "bpjs", SyncRun.status == "SUCCEEDED"))).scalars()
                return any(f.astimezone(UTC) > killed_at for f in finished if f)
        await _wait_for(runs_after_takeover, 60)

        async with hub_engine.connect() as conn:
            runs = (await conn.execute(select(SyncRun.connector, SyncRun.started_at,
                                              SyncRun.finished_at, SyncRun.status)
                                       .order_by(SyncRun.started_at))).all()
        for connector in ("bpjs", "reconcile"):
            spans = [(r.started_at, r.finished_at) for r in runs
                     if r.connector == connector and r.finished_at is not None]
            for (_, end), (start, _) in itertools.pairwise(spans):
                assert start >= end, f"two {connector} runs overlapped"
    finally:
        for process in (first, second):
            if process and process.poll() is None:
                process.terminate()
                process.wait(10)


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_a_scheduler_told_to_stop_hands_its_lead_over(
        backend: str, hub_engine: AsyncEngine, empty_database_url: str) -> None:
    """SIGTERM (systemd, a container stopping) releases the leader lease, so a standby
    leads at once rather than after the lease expires."""
    env = {**os.environ, "HUB_DATABASE__URL": empty_database_url,
           "HUB_SCHEDULE__LEASE_SECONDS": "60", "HUB_SCHEDULE__CONNECTORS": "{}"}
    process = _spawn(env)
    try:
        await _wait_for(lambda: _holder(hub_engine), 30)
        assert (await _holder(hub_engine)).split(":")[1] == str(process.pid)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert await _holder(hub_engine) is None
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
