"""A data steward's decisions: link, unlink, merge, split, and settling review tasks
and findings.

Every decision pins the records it moves (`link_locked`) and is kept as a
`LinkDecision`, so no later automatic run overturns it: pinned records are never
re-matched, and a NOT_LINK decision forbids the automatic link for good. The persons a
decision touches get their golden records and findings rebuilt at once.

A steward acts only inside its regions: every person a decision touches (the record's
current person, the target, both sides of a merge, the person split) is checked in the
decision's own transaction, so no path (and no race with a reconciliation that moves a
record meanwhile) reaches a person outside them. Out of scope reads as absent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.config import HubSettings
from hub.db import bulk
from hub.db.models import Finding, LinkDecision, MatchKey, Person, ReviewTask, SourceRecord
from hub.domain.names import normalize_name
from hub.domain.provinces import province_of
from hub.errors import NotFound
from hub.sync.reconcile import Reconciler


class StewardError(ValueError):
    """A decision that cannot be made as asked; the message says why."""


def _now() -> datetime:
    return datetime.now(UTC)


InScope = Callable[[str | None], bool]  # a region code -> may this steward act there


def _everywhere(_: str | None) -> bool:
    return True


class Steward:
    def __init__(self, engine: AsyncEngine, settings: HubSettings,
                 in_scope: InScope = _everywhere) -> None:
        self.engine = engine
        self.reconciler = Reconciler(engine, settings)
        self.by_province = settings.database.by_province
        self.in_scope = in_scope
        self.touched: set[int] = set()  # persons the decisions read or changed (for audit)

    async def _touch(self, conn: AsyncConnection, persons: Iterable[int | None],
                     absent: str) -> None:
        """Every person must exist and lie in the steward's regions; otherwise the whole
        decision is NotFound with `absent` (the same words for both, so the answer tells
        nothing of persons elsewhere). None stands for a record linked to nobody, which
        has no region: only a steward whose scope is everywhere may touch it."""
        persons = list(persons)
        if None in persons and not self.in_scope(None):
            raise NotFound(absent)
        wanted = {p for p in persons if p is not None}
        if not wanted:
            return
        rows = (await conn.execute(select(Person.id, Person.region_code)
                                   .where(Person.id.in_(wanted)))).all()
        regions = dict(rows)
        for person in sorted(wanted):
            if person not in regions or not self.in_scope(regions[person]):
                raise NotFound(absent)
        self.touched |= wanted

    async def _owned_records(self, conn: AsyncConnection, ids: Iterable[int]
                             ) -> dict[int, int | None]:
        """The records and their persons, each of which the steward may touch."""
        found = await self._records(conn, ids)
        for record, person in found.items():
            await self._touch(conn, [person], f"no source record {record}")
        return found

    async def _records(self, conn: AsyncConnection, ids: Iterable[int]) -> dict[int, int | None]:
        ids = list(ids)
        rows = (await conn.execute(select(SourceRecord.id, SourceRecord.person_id)
                                   .where(SourceRecord.id.in_(ids)))).all()
        found = dict(rows)
        missing = [i for i in ids if i not in found]
        if missing:
            raise NotFound(f"no source record {missing[0]}")
        return found

    async def _person_exists(self, conn: AsyncConnection, person: int) -> None:
        await self._touch(conn, [person], f"no person {person}")

    async def _move(self, conn: AsyncConnection, records: Iterable[int], person: int,
                    by: str, reason: str | None) -> None:
        records = list(records)
        await conn.execute(update(SourceRecord).where(SourceRecord.id.in_(records)).values(
            person_id=person, link_method="MANUAL", link_score=1.0, link_locked=True,
            matched_hash=SourceRecord.payload_hash,
        ))
        await conn.execute(update(MatchKey).where(MatchKey.record_id.in_(records))
                           .values(person_id=person))
        await conn.execute(insert(LinkDecision), [
            {"record_id": r, "person_id": person, "decision": "LINK", "decided_by": by,
             "reason": reason} for r in records])
        await conn.execute(update(ReviewTask).where(
            ReviewTask.record_id.in_(records), ReviewTask.status == "OPEN"
        ).values(status="OBSOLETE"))

    async def _pin_rest(self, conn: AsyncConnection, person: int, by: str,
                        reason: str | None) -> None:
        """The records a steward saw stay in `person` too: pinned, so a NOT_LINK against
        this person holds even through a full rebuild."""
        rest = (await conn.execute(select(SourceRecord.id).where(
            SourceRecord.person_id == person, SourceRecord.link_locked.is_(False)
        ))).scalars().all()
        if rest:
            await self._move(conn, rest, person, by, reason)

    async def _forbid(self, conn: AsyncConnection, records: Iterable[int], person: int,
                      by: str, reason: str | None) -> None:
        await conn.execute(insert(LinkDecision), [
            {"record_id": r, "person_id": person, "decision": "NOT_LINK", "decided_by": by,
             "reason": reason} for r in records])

    async def _new_person(self, conn: AsyncConnection, record: int) -> int:
        normalized = (await conn.execute(select(SourceRecord.normalized)
                                         .where(SourceRecord.id == record))).scalar_one() or {}
        name = (normalized.get("name") or "?")[:120]
        values: dict[str, Any] = {"name": name, "name_normalized": normalize_name(name)[:120]}
        if self.by_province:  # its id carries its province (a partitioned registry)
            province = province_of(normalized.get("nik"), normalized.get("village_code"),
                                   normalized.get("district_code"))
            values["id"], = await bulk.next_ids(conn, Person.__table__, 1, [province])
        return (await conn.execute(insert(Person).values(values)
                                   .returning(Person.id))).scalar_one()

    async def link(self, record: int, person: int, by: str, reason: str | None = None) -> int:
        """Put `record` into `person`."""
        async with self.engine.begin() as conn:
            previous = (await self._owned_records(conn, [record]))[record]
            await self._person_exists(conn, person)
            await self._move(conn, [record], person, by, reason)
            await self.reconciler.refresh(conn, {person, previous} - {None})
        return person

    async def unlink(self, record: int, by: str, reason: str | None = None) -> int:
        """Take `record` out of its person into a person of its own; never again
        linked to the old one automatically."""
        async with self.engine.begin() as conn:
            previous = (await self._owned_records(conn, [record]))[record]
            if previous is None:
                raise StewardError(f"record {record} is not linked to anyone")
            person = await self._new_person(conn, record)
            await self._forbid(conn, [record], previous, by, reason)
            await self._move(conn, [record], person, by, reason)
            await self._pin_rest(conn, previous, by, reason)
            await self.reconciler.refresh(conn, {person, previous})
        return person

    async def merge(self, keep: int, merge: int, by: str, reason: str | None = None) -> int:
        """Every record of person `merge` into person `keep`; `merge` is removed."""
        if keep == merge:
            raise StewardError("a person cannot be merged into itself")
        async with self.engine.begin() as conn:
            await self._person_exists(conn, keep)
            await self._person_exists(conn, merge)
            records = (await conn.execute(select(SourceRecord.id)
                                          .where(SourceRecord.person_id == merge))).scalars().all()
            await self._move(conn, records, keep, by, reason)
            await self._pin_rest(conn, keep, by, reason)
            await conn.execute(update(Finding).where(
                Finding.subject_type == "person", Finding.subject_id == merge,
                Finding.status == "OPEN").values(status="AUTO_CLOSED", closed_at=_now()))
            await self.reconciler.refresh(conn, {keep, merge})
        return keep

    async def split(self, person: int, records: list[int], by: str,
                    reason: str | None = None) -> int:
        """Move `records` out of `person` into one new person."""
        if not records:
            raise StewardError("name at least one record to split off")
        async with self.engine.begin() as conn:
            await self._person_exists(conn, person)
            owners = await self._records(conn, records)
            strangers = [r for r, p in owners.items() if p != person]
            if strangers:
                raise StewardError(f"record {strangers[0]} does not belong to person {person}")
            remaining = (await conn.execute(select(SourceRecord.id).where(
                SourceRecord.person_id == person, SourceRecord.id.not_in(records)))).first()
            if remaining is None:
                raise StewardError("a split must leave the person at least one record")
            new = await self._new_person(conn, min(records))
            await self._forbid(conn, records, person, by, reason)
            await self._move(conn, records, new, by, reason)
            await self._pin_rest(conn, person, by, reason)
            await self.reconciler.refresh(conn, {person, new})
        return new

    async def resolve_review(self, task: int, link: bool, by: str,
                             reason: str | None = None) -> str:
        async with self.engine.begin() as conn:
            row = (await conn.execute(select(ReviewTask).where(ReviewTask.id == task))
                   ).mappings().first()
            if row is None:
                raise NotFound(f"no review task {task}")
            absent = f"no review task {task}"
            previous = (await self._records(conn, [row["record_id"]]))[row["record_id"]]
            person = row["candidate_person_id"]
            await self._touch(conn, [previous, person], absent)
            if row["status"] != "OPEN":
                raise StewardError(f"review task {task} is already {row['status']}")
            if link:
                await self._move(conn, [row["record_id"]], person, by, reason)
                await self._pin_rest(conn, person, by, reason)
                await self.reconciler.refresh(conn, {person, previous} - {None})
            else:
                await self._forbid(conn, [row["record_id"]], person, by, reason)
            status = "LINKED" if link else "REJECTED"
            await conn.execute(update(ReviewTask).where(ReviewTask.id == task).values(
                status=status, decided_by=by, decision_reason=reason, decided_at=_now()))
        return status

    async def resolve_finding(self, finding: int, reason: str, by: str) -> None:
        if not reason.strip():
            raise StewardError("say why the finding is resolved")
        async with self.engine.begin() as conn:
            result = await conn.execute(update(Finding).where(Finding.id == finding).values(
                status="RESOLVED", resolved_reason=reason, resolved_by=by, closed_at=_now(),
                updated_at=_now()))
            if not result.rowcount:
                raise NotFound(f"no finding {finding}")
