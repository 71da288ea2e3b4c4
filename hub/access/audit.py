"""The audit log: what each request read or changed, by whom, why, and when.

Writing is off the request path: a request hands its entry to the writer and returns;
the writer appends what has gathered every few milliseconds in one transaction (group
commit). That keeps audit from doubling the latency of a read, at the price that a
hub killed outright can lose the entries of its last flush interval
(`[access] audit_flush_seconds`, 50 ms by default); a clean shutdown writes them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.access.chain import GENESIS, canonical, checkpoint_text, label, link, subjects
from hub.access.roles import Principal
from hub.crypto.jose import SigningKey, b64url, unb64url
from hub.db.bulk import insert_tuples
from hub.db.models import AuditHead, AuditLog, AuditSubject, Household, Person
from hub.domain.dates import as_utc

logger = logging.getLogger("hub.audit")

Subject = tuple[str, int, str | None]  # (person|household, id, NIK or KK)


@dataclass
class AuditEvent:
    """One request's audit facts, gathered while it runs."""

    principal: Principal
    purpose: str
    operation_type: str
    operation: str | None
    root_fields: list[str]
    fields: list[str]
    subjects: dict[tuple[str, int], str | None] = field(default_factory=dict)
    variables: dict[str, Any] | None = None
    outcome: str = "ok"
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def note(self, kind: str, subject_id: int, identifier: str | None) -> None:
        self.subjects[(kind, subject_id)] = identifier

    def note_asked(self, identifiers: Iterable[str]) -> None:
        """The NIKs and KKs a request asked about that it did not get (refused, out of
        scope, unknown): the citizen's trail shows those attempts too."""
        known = set(self.subjects.values())
        for position, identifier in enumerate(sorted(set(identifiers) - known)):
            self.subjects[("asked", position)] = identifier

    def entry(self, entry_id: int) -> dict[str, Any]:
        p = self.principal
        return {
            "id": entry_id, "at": self.at.isoformat(), "client_id": p.client_id,
            "client": p.name, "role": p.role.value, "legal_basis": p.legal_basis,
            "purpose": self.purpose, "operation_type": self.operation_type,
            "operation": self.operation, "root_fields": self.root_fields,
            "fields": self.fields, "outcome": self.outcome,
            "subjects": [[kind, sid, ident] for (kind, sid), ident in
                         sorted(self.subjects.items())],
            **({"variables": self.variables} if self.variables is not None else {}),
            **({"officer": p.officer} if p.officer is not None else {}),
        }

    @property
    def label(self) -> str:
        return label({"operation_type": self.operation_type, "operation": self.operation,
                      "root_fields": self.root_fields})


class AuditWriter:
    def __init__(self, engine: AsyncEngine, flush_seconds: float = 0.05,
                 batch: int = 500) -> None:
        self.engine = engine
        self.flush_seconds = flush_seconds
        self.batch = batch
        self._pending: list[AuditEvent] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.flush_failures = 0  # for /metrics: a database that refused the writes

    def record(self, event: AuditEvent) -> None:
        self._pending.append(event)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        if len(self._pending) >= self.batch:
            self._wake.set()

    async def _run(self) -> None:
        while self._pending:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.flush_seconds)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:  # the database is away: keep the entries, try again
                self.flush_failures += 1
                logger.exception("audit flush failed; %d entries kept for the next try",
                                 len(self._pending))
                await asyncio.sleep(1.0)

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def flush(self) -> int:
        """Write everything recorded so far; returns how many entries were written."""
        async with self._lock:
            events, self._pending = self._pending, []
            if not events:
                return 0
            try:
                for start in range(0, len(events), self.batch):
                    await append(self.engine, events[start:start + self.batch])
            except BaseException:
                self._pending[:0] = events
                raise
            return len(events)

    async def close(self) -> None:
        await self.flush()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


_LOG_COLUMNS = ("id", "at", "client_id", "operation", "entry", "prev_hash", "hash")
_SUBJECT_COLUMNS = ("audit_id", "kind", "subject_id", "identifier")


async def append(engine: AsyncEngine, events: list[AuditEvent]) -> None:
    """Append entries to the chain in one transaction. Updating the head row first
    serialises writers across processes on both databases."""
    async with engine.begin() as conn:
        await conn.execute(update(AuditHead).where(AuditHead.id == 1)
                           .values(entries=AuditHead.entries))
        head = (await conn.execute(select(AuditHead.last_id, AuditHead.hash).where(
            AuditHead.id == 1))).one()
        previous, entry_id = head.hash, head.last_id
        # Rows as tuples in the tables' column order, COPYed as they are: building a
        # dict per row for bulk_insert to take apart again was most of a flush's CPU.
        logs: list[tuple[Any, ...]] = []
        subjects: list[tuple[Any, ...]] = []
        for event in events:
            entry_id += 1
            text = canonical(event.entry(entry_id))
            digest = link(previous, text)
            logs.append((entry_id, event.at, event.principal.client_id, event.label, text,
                         previous, digest))
            subjects.extend((entry_id, kind, sid, ident)
                            for (kind, sid), ident in event.subjects.items())
            previous = digest
        await insert_tuples(conn, AuditLog.__table__, _LOG_COLUMNS, logs)
        await insert_tuples(conn, AuditSubject.__table__, _SUBJECT_COLUMNS, subjects)
        await conn.execute(update(AuditHead).where(AuditHead.id == 1).values(
            last_id=entry_id, hash=previous, entries=AuditHead.entries + len(logs)))


@dataclass(frozen=True)
class Verification:
    entries: int
    head: str
    problem: str | None = None
    bad_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


async def _chunks(conn: AsyncConnection, chunk: int = 5000
                  ) -> AsyncIterator[tuple[list[Any], dict[int, set[Any]]]]:
    """The chain in id order, a chunk at a time, each with its subject index rows."""
    last = 0
    while True:
        rows = (await conn.execute(select(AuditLog.__table__).where(AuditLog.id > last)
                                   .order_by(AuditLog.id).limit(chunk))).all()
        if not rows:
            return
        indexed: dict[int, set[Any]] = {}
        for audit_id, kind, sid, ident in (await conn.execute(
                select(AuditSubject.audit_id, AuditSubject.kind, AuditSubject.subject_id,
                       AuditSubject.identifier)
                .where(AuditSubject.audit_id > last, AuditSubject.audit_id <= rows[-1].id))):
            indexed.setdefault(audit_id, set()).add((kind, sid, ident))
        yield rows, indexed
        last = rows[-1].id


def _broken_link(row: Any, expected_id: int, previous: str,
                 indexed: set[Any]) -> str | None:
    """Why this entry does not fit the chain, or None. Every column is checked: the
    hash covers the entry's text, and the other columns (and the subject index) must
    say what the text says."""
    if row.id != expected_id:
        return f"entry {expected_id} is missing (next is {row.id})"
    if row.prev_hash != previous:
        return f"entry {row.id} does not follow its predecessor"
    if link(previous, row.entry) != row.hash:
        return f"entry {row.id} was changed after it was written"
    entry = json.loads(row.entry)
    if (entry.get("id") != row.id or entry.get("client_id") != row.client_id
            or row.operation != label(entry)
            or as_utc(row.at) != datetime.fromisoformat(entry["at"])):
        return f"entry {row.id}'s columns disagree with its hashed content"
    if indexed != subjects(entry):
        return (f"entry {row.id}'s subject index disagrees with the subjects it names "
                "(a row added, removed or pointed at someone else)")
    return None


async def verify(engine: AsyncEngine,
                 checkpoints: Sequence[Checkpoint] = ()) -> Verification:
    """Walk the chain from the genesis hash; the first entry that does not fit is
    named. Also checks the head (a removed tail), the subject index, and that the chain
    still passes through every checkpoint exported earlier (a rewritten chain whose
    hashes were all recomputed does not)."""
    expected = {c.entry: c for c in checkpoints}
    previous, count = GENESIS, 0
    async with engine.connect() as conn:
        async for rows, indexed in _chunks(conn):
            for row in rows:
                problem = _broken_link(row, count + 1, previous, indexed.get(row.id, set()))
                if problem is not None:
                    return Verification(count, previous, problem, row.id)
                previous, count = row.hash, count + 1
                mark = expected.pop(row.id, None)
                if mark is not None and mark.hash != row.hash:
                    return Verification(count, previous, f"entry {row.id} is not the entry "
                                        f"checkpointed at {mark.at}: the chain was rewritten",
                                        row.id)
        head = (await conn.execute(select(AuditHead.__table__).where(AuditHead.id == 1))).one()
        stray = (await conn.execute(select(func.count()).select_from(AuditSubject).where(
            AuditSubject.audit_id > count))).scalar_one()
    if head.last_id != count or head.hash != previous or head.entries != count:
        return Verification(count, previous, f"the chain ends at entry {count} but its head "
                            f"says {head.last_id}: entries were removed from the end")
    if expected:
        lost = min(expected)
        return Verification(count, previous, f"the chain ends at entry {count}, before entry "
                            f"{lost} checkpointed at {expected[lost].at}: entries were "
                            "removed")
    if stray:
        return Verification(count, previous, f"the subject index holds {stray} rows for "
                            "entries that do not exist")
    return Verification(count, previous)


@dataclass(frozen=True)
class Checkpoint:
    """The chain's length and head at a moment, signed with the hub's key and kept
    outside the database (`slrt-hub audit checkpoint`): whoever controls the database
    can recompute every hash after an edit, but cannot change a checkpoint a district
    archive, an auditor or Kemensos already holds."""

    entry: int
    hash: str
    at: str
    kid: str
    signature: str

    def as_json(self) -> dict[str, Any]:
        return {"entry": self.entry, "hash": self.hash, "at": self.at, "kid": self.kid,
                "signature": self.signature}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Checkpoint:
        try:
            return cls(int(data["entry"]), str(data["hash"]), str(data["at"]),
                       str(data["kid"]), str(data["signature"]))
        except (KeyError, TypeError, ValueError):
            raise ValueError("a checkpoint has entry, hash, at, kid and signature") from None

    def signed_by(self, keys: dict[str, Any]) -> bool:
        public = keys.get(self.kid)
        if public is None:
            return False
        try:
            public.verify(unb64url(self.signature),
                          checkpoint_text(self.entry, self.hash, self.at).encode())
        except (InvalidSignature, ValueError):
            return False
        return True


async def checkpoint(engine: AsyncEngine, key: SigningKey) -> Checkpoint:
    """A signed checkpoint of the chain's head now."""
    async with engine.connect() as conn:
        head = (await conn.execute(select(AuditHead.__table__).where(AuditHead.id == 1))).one()
    at = datetime.now(UTC).isoformat(timespec="seconds")
    text = checkpoint_text(head.last_id, head.hash, at)
    return Checkpoint(head.last_id, head.hash, at, key.kid,
                      b64url(key.private.sign(text.encode())))


async def trail(engine: AsyncEngine, nik: str) -> list[dict[str, Any]]:
    """Every audited access to the data of the person with this NIK (as a person or
    through their household), oldest first: the answer to a citizen's access request."""
    async with engine.connect() as conn:
        persons = (await conn.execute(select(Person.id, Person.household_id).where(
            Person.nik == nik))).all()
        person_ids = [p.id for p in persons]
        household_ids = [p.household_id for p in persons if p.household_id is not None]
        kks = [] if not household_ids else (await conn.execute(select(Household.kk).where(
            Household.id.in_(household_ids)))).scalars().all()
        who = [AuditSubject.identifier == nik]
        if person_ids:
            who.append(AuditSubject.kind.in_(("person", "withheld"))
                       & AuditSubject.subject_id.in_(person_ids))
        if household_ids:
            who.append(AuditSubject.kind.in_(("household", "withheld_h"))
                       & AuditSubject.subject_id.in_(household_ids))
        who.extend(AuditSubject.identifier == kk for kk in kks if kk)
        ids = select(AuditSubject.audit_id).where(or_(*who)).distinct()
        rows = (await conn.execute(select(AuditLog.entry).where(AuditLog.id.in_(ids))
                                   .order_by(AuditLog.id))).scalars().all()
    return [access_of(json.loads(text)) for text in rows]


def access_of(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry as a data subject reads it: who, when, why, what, and whether it was
    answered (ok, errors) or refused; not whom else."""
    return {key: entry.get(key) for key in (
        "id", "at", "client", "role", "legal_basis", "purpose", "operation_type",
        "operation", "fields", "outcome")}

