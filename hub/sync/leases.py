"""Leases: named locks with an expiry, kept in the database every replica shares.

APScheduler 3 keeps its jobs in one process, so replicas elect a leader through a lease
row: whoever holds `scheduler` runs the schedule, and every job also holds a lease of
its own so a job never runs twice at once, even when started from the command line.
A holder that dies stops renewing and its lease expires: no replica waits forever.
Times are the replicas' UTC clocks (keep them NTP-synchronised); works the same on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.db.models import Lease
from hub.domain.dates import as_utc

log = logging.getLogger(__name__)


def holder_id() -> str:
    """Who this process is, readable in the lease table."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class LeaseHeld(RuntimeError):
    """Another holder has the lease: the message says who and until when. `done` holds
    what the caller had finished before it met the lease (a CLI prints it)."""

    def __init__(self, name: str, holder: str | None = None,
                 until: datetime | None = None) -> None:
        self.name, self.holder, self.until = name, holder, until
        self.done: list[Any] = []
        if holder and until:
            super().__init__(f"{name} is held by {holder} until "
                             f"{as_utc(until):%Y-%m-%d %H:%M:%S} UTC")
        else:
            super().__init__(f"{name} is running elsewhere")


def gone(holder: str) -> bool:
    """Whether `holder` was a process on this host that no longer runs: its lease can be
    taken at once rather than after it expires. A holder elsewhere, or a process id that
    still exists (or was reused), is left to its expiry."""
    host, _, rest = holder.partition(":")
    pid = rest.split(":", 1)[0]
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, but not ours to signal
        return False
    return False


async def acquire(engine: AsyncEngine, name: str, holder: str, seconds: float) -> bool:
    """Take or renew `name` for `seconds`; False if someone else holds it."""
    now = datetime.now(UTC)
    expires = now + timedelta(seconds=seconds)
    async with engine.begin() as conn:
        result = await conn.execute(
            update(Lease).where(Lease.name == name,
                                or_(Lease.holder == holder, Lease.expires_at < now))
            .values(holder=holder, expires_at=expires, acquired_at=now)
        )
        if result.rowcount:
            return True
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(Lease).values(name=name, holder=holder,
                                                    expires_at=expires, acquired_at=now))
        return True
    except IntegrityError:
        pass
    current = await holder_of(engine, name)
    if current is None or not gone(current[0]):
        return False
    log.warning("taking over lease %s from %s, a process on this host that is gone",
                name, current[0])
    async with engine.begin() as conn:
        result = await conn.execute(
            update(Lease).where(Lease.name == name, Lease.holder == current[0])
            .values(holder=holder, expires_at=expires, acquired_at=now))
    return bool(result.rowcount)


async def holder_of(engine: AsyncEngine, name: str) -> tuple[str, datetime] | None:
    """Who holds `name`, and until when."""
    async with engine.connect() as conn:
        row = (await conn.execute(select(Lease.holder, Lease.expires_at)
                                  .where(Lease.name == name))).first()
    return (row.holder, row.expires_at) if row else None


async def release(engine: AsyncEngine, name: str, holder: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))


@asynccontextmanager
async def held(engine: AsyncEngine, name: str, holder: str,
               seconds: float) -> AsyncIterator[None]:
    """`async with held(engine, "reconcile", holder, 60):`, or LeaseHeld. The lease is
    renewed every third of its life while the block runs, so a long job keeps it and
    a dead one loses it within `seconds`."""
    if not await acquire(engine, name, holder, seconds):
        current = await holder_of(engine, name)
        raise LeaseHeld(name, *(current or (None, None)))

    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(seconds / 3)
            try:
                await acquire(engine, name, holder, seconds)
            except Exception:  # the next beat tries again; the job itself goes on
                log.warning("could not renew lease %s", name, exc_info=True)

    beat = asyncio.create_task(heartbeat())
    try:
        yield
    finally:
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat
        await release(engine, name, holder)
