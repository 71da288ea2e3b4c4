"""The audit log against an administrator who drops the append-only triggers: every
column and the subject index are covered, and a chain rewritten with every hash
recomputed is caught by a checkpoint kept outside the database."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from hub.access.audit import append, checkpoint, verify
from hub.access.chain import GENESIS, canonical, checkpoint_text, label, link
from hub.access.keystore import KeyStore
from hub.db.engine import create_engine
from hub.db.migrate import upgrade
from hub.db.models import AuditLog, AuditSubject
from tests.access.test_audit import DROP_TRIGGERS, _event


def test_the_chain_formula_has_a_known_answer() -> None:
    """The formula is the contract with every verifier outside the hub: SHA-256 of the
    previous hash, a newline, and the entry's canonical JSON (sorted keys, no spaces)."""
    entry = {"id": 1, "at": "2026-01-02T03:04:05+00:00", "client_id": 7, "client": "bpjs",
             "subjects": [["person", 42, "3314015208850001"]], "outcome": "ok"}
    text = canonical(entry)
    assert text == ('{"at":"2026-01-02T03:04:05+00:00","client":"bpjs","client_id":7,'
                    '"id":1,"outcome":"ok","subjects":[["person",42,"3314015208850001"]]}')
    # Computed once with `sha256sum` over the bytes below, and fixed here: a change of
    # formula breaks every chain already written and every verifier outside.
    assert link(GENESIS, text) == \
        "5b8b3e5a1c7da6355c6c933471639ad5263653dcfefc3a3ace024e2ae5d95b63"
    assert link(GENESIS, text) == hashlib.sha256(
        ("0" * 64 + "\n" + text).encode()).hexdigest()
    assert checkpoint_text(5, "ab" * 32, "2026-01-02T03:04:05+00:00") == \
        '{"at":"2026-01-02T03:04:05+00:00","entry":5,"hash":"' + "ab" * 32 + '"}'
    assert label({"operation_type": "query", "operation": "Look",
                  "root_fields": ["person", "household"]}) == "query Look person,household"


async def _rewrite_from(conn, first: int) -> None:
    """What an administrator with the database does: edit an entry, then recompute
    every hash after it so the chain links again."""
    rows = (await conn.execute(select(AuditLog.id, AuditLog.entry, AuditLog.prev_hash)
                               .where(AuditLog.id >= first).order_by(AuditLog.id))).all()
    previous = rows[0].prev_hash
    for row in rows:
        entry = json.loads(row.entry)
        if row.id == first:
            entry["purpose"] = "nothing to see here"
        text = canonical(entry)
        digest = link(previous, text)
        await conn.execute(update(AuditLog).where(AuditLog.id == row.id).values(
            entry=text, prev_hash=previous, hash=digest))
        previous = digest
    await conn.exec_driver_sql(f"UPDATE audit_head SET hash = '{previous}' WHERE id = 1")


async def test_every_column_and_the_subjects_are_covered(empty_database_url: str,
                                                         backend: str) -> None:
    await asyncio.to_thread(upgrade, empty_database_url)
    engine = create_engine(empty_database_url)
    try:
        await append(engine, [_event(n, subjects=2) for n in range(12)])
        marks = [await checkpoint(engine, await KeyStore(engine).current())]
        await append(engine, [_event(n) for n in range(12, 20)])
        assert (await verify(engine, marks)).ok
        async with engine.begin() as conn:
            for statement in DROP_TRIGGERS[backend]:
                await conn.exec_driver_sql(statement)

        async def broken_by(change, restore) -> str:
            async with engine.begin() as conn:
                await change(conn)
            result = await verify(engine, marks)
            async with engine.begin() as conn:
                await restore(conn)
            assert (await verify(engine, marks)).ok, "restoring did not restore"
            assert not result.ok
            return result.problem or ""

        # A subject row pointed at another person: the citizen's trail loses the entry.
        async def repoint(conn):
            await conn.execute(update(AuditSubject).where(AuditSubject.audit_id == 3)
                               .values(subject_id=AuditSubject.subject_id + 1000))

        async def unpoint(conn):
            await conn.execute(update(AuditSubject).where(AuditSubject.audit_id == 3)
                               .values(subject_id=AuditSubject.subject_id - 1000))
        assert "subject index" in await broken_by(repoint, unpoint)

        # The unhashed columns: when, and the operation's label.
        async with engine.connect() as conn:
            at, operation = (await conn.execute(select(AuditLog.at, AuditLog.operation)
                                                .where(AuditLog.id == 4))).one()

        async def move_time(conn):
            await conn.execute(update(AuditLog).where(AuditLog.id == 4).values(
                at=datetime(2020, 1, 1, tzinfo=UTC)))

        async def restore_time(conn):
            await conn.execute(update(AuditLog).where(AuditLog.id == 4).values(at=at))
        assert "columns disagree" in await broken_by(move_time, restore_time)

        async def rename(conn):
            await conn.execute(update(AuditLog).where(AuditLog.id == 4).values(
                operation="query  regencies"))

        async def unrename(conn):
            await conn.execute(update(AuditLog).where(AuditLog.id == 4).values(
                operation=operation))
        assert "columns disagree" in await broken_by(rename, unrename)

        # An entry edited and every later hash recomputed: the chain links, but no
        # longer passes through the checkpoint taken before.
        async with engine.begin() as conn:
            await _rewrite_from(conn, 5)
        assert (await verify(engine)).ok  # without the checkpoint it cannot be seen
        rewritten = await verify(engine, marks)
        assert not rewritten.ok
        assert "rewritten" in rewritten.problem
        assert marks[0].signed_by(await KeyStore(engine).public_keys(True))
        forged = type(marks[0])(**{**marks[0].as_json(), "hash": "0" * 64})
        assert not forged.signed_by(await KeyStore(engine).public_keys(True))
        assert timedelta(0) <= datetime.now(UTC) - datetime.fromisoformat(marks[0].at)
    finally:
        await engine.dispose()
