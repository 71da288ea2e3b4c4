"""Notifying DCI subscribers from the registry's change history.

Each subscription keeps a cursor (the last `registry_event` id it has been considered
for). When it is due (its cron frequency), the events after the cursor that it asked
for, on families inside its client's regions that its filter selects, become one
`notify` message in the outbox, and the cursor moves, in one transaction: a hub that
stops at any point resends nothing twice and misses nothing when it starts again.
Delivery (signed, retried) is the outbox's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.access.audit import AuditEvent, AuditWriter
from hub.access.clients import ClientStore
from hub.access.roles import Principal
from hub.db.models import DciSubscription, Person, RegistryEvent
from hub.dci import outbox, records, registry
from hub.dci.envelope import timestamp
from hub.dci.frequency import next_due
from hub.dci.searching import REG_TYPE
from hub.dci.subscriptions import EVENT_NAMESPACE, HUB_EVENT, SPEC_EVENT, compiled_filter
from hub.domain.dates import as_utc

log = logging.getLogger("hub.dci")
EVENTS_PER_MESSAGE = 500
DUE_PER_RUN = 50


def _now() -> datetime:
    return datetime.now(UTC)


class Notifier:
    def __init__(self, engine: AsyncEngine, clients: ClientStore, audit: AuditWriter,
                 hub_id: str, clock: Callable[[], datetime] = _now) -> None:
        self.engine = engine
        self.clients = clients
        self.audit = audit
        self.hub_id = hub_id
        self.clock = clock

    async def run_once(self) -> int:
        """Notify every due subscription; returns the notify messages queued."""
        now = self.clock()
        async with self.engine.connect() as conn:
            due = (await conn.execute(select(DciSubscription.__table__).where(
                DciSubscription.status == "subscribe", DciSubscription.next_due_at <= now)
                .order_by(DciSubscription.next_due_at).limit(DUE_PER_RUN))).mappings().all()
        queued = 0
        for subscription in due:
            queued += await self._notify(subscription, now)
        return queued

    async def _notify(self, sub: Any, now: datetime) -> int:
        principal = await self.clients.by_id(sub["client_id"])
        end = as_utc(sub["end_time"])
        if not sub["frequency"] and principal is not None and (end is None or now < end) \
                and not await self._news(sub):
            return 0  # due at every pass: claimed (a write) only when there is news
        async with self.engine.begin() as conn:
            # Claimed by moving its due time: a replica that read it too finds no row.
            following = next_due(sub["frequency"], now + timedelta(seconds=1)) \
                if sub["frequency"] else now  # no frequency: every pass
            ended = following is None or (end is not None and now >= end)
            if principal is None:
                ended = True  # the client was revoked: nobody to tell
            values: dict[str, Any] = {"next_due_at": following or now}
            if ended:
                values |= {"status": "ended", "ended_at": now}
            claimed = await conn.execute(update(DciSubscription).where(
                DciSubscription.code == sub["code"],
                DciSubscription.next_due_at == sub["next_due_at"]).values(**values))
            if claimed.rowcount != 1 or principal is None:
                return 0
            queued, cursor = 0, sub["cursor"]
            while True:
                events = (await conn.execute(select(RegistryEvent.__table__).where(
                    RegistryEvent.id > cursor, RegistryEvent.kind.in_(sub["event_types"]))
                    .order_by(RegistryEvent.id).limit(EVENTS_PER_MESSAGE))).mappings().all()
                if not events:
                    break
                cursor = events[-1]["id"]
                items = await self._items(conn, sub, principal, events)
                if items:
                    header = outbox.callback_header(self.hub_id, sub["sender_id"], "notify",
                                                    total=len(items), completed=len(items))
                    await outbox.enqueue(conn, sub["sender_id"], sub["callback_url"], header,
                                         {"transaction_id": sub["transaction_id"],
                                          "notify_event": items}, now)
                    queued += 1
                if len(events) < EVENTS_PER_MESSAGE:
                    break
            await conn.execute(update(DciSubscription).where(
                DciSubscription.code == sub["code"]).values(cursor=cursor))
        return queued

    async def _news(self, sub: Any) -> bool:
        """Whether an event the subscription asked for came after its cursor."""
        async with self.engine.connect() as conn:
            return (await conn.execute(select(RegistryEvent.id).where(
                RegistryEvent.id > sub["cursor"], RegistryEvent.kind.in_(sub["event_types"]))
                .limit(1))).first() is not None

    async def _items(self, conn: AsyncConnection, sub: Any, principal: Principal,
                     events: list[Any]) -> list[dict[str, Any]]:
        """The notify_event items for the events this subscriber may see and asked for."""
        start, end = as_utc(sub["start_time"]), as_utc(sub["end_time"])
        events = [e for e in events if e["household_id"] is not None
                  and (start is None or as_utc(e["occurred_at"]) >= start)
                  and (end is None or as_utc(e["occurred_at"]) <= end)]
        wanted = sorted({e["household_id"] for e in events})
        rows = await registry.households_matching(
            conn, wanted, compiled_filter(sub["filter_type"], sub["filter"]),
            principal.scope, date.today())
        found = await registry.groups(conn, rows, principal.scope, len(rows))
        group_of = {int(g["@id"].rsplit(":", 1)[-1]): g for g in found.records}
        members = await self._members(conn, principal, events) \
            if sub["notify_record_type"] == "Member" else {}
        audit = AuditEvent(principal=principal, purpose=principal.purpose,
                           operation_type="dci", operation="registry/notify",
                           root_fields=["notify"], fields=[sub["notify_record_type"]])
        items: list[dict[str, Any]] = []
        for event in events:
            group = group_of.get(event["household_id"])
            if group is None:
                continue
            if sub["notify_record_type"] == "Group":
                shown = [group]
                audit.note("household", event["household_id"], None)
            elif event["person_id"] is not None:
                shown = [members[event["person_id"]]] if event["person_id"] in members else []
            else:
                shown = group["member_list"]
            for record in shown:
                items.append(self._item(sub, event, record))
        for kind, subject, identifier in found.subjects:
            if sub["notify_record_type"] == "Group" or kind == "person":
                audit.note(kind, subject, identifier)
        if items:
            self.audit.record(audit)
        return items

    @staticmethod
    async def _members(conn: AsyncConnection, principal: Principal, events: list[Any]
                       ) -> dict[int, dict[str, Any]]:
        persons = sorted({e["person_id"] for e in events if e["person_id"] is not None})
        found: dict[int, dict[str, Any]] = {}
        if persons:
            rows = (await conn.execute(select(Person.__table__).where(
                Person.id.in_(persons)))).mappings().all()
            found = {r["id"]: records.member(r) for r in rows
                     if principal.scope.allows(r["region_code"])}
        return found

    @staticmethod
    def _item(sub: Any, event: Any, record: dict[str, Any]) -> dict[str, Any]:
        item: dict[str, Any] = {
            "reference_id": f"{sub['code']}:{event['id']}",
            "timestamp": timestamp(as_utc(event["occurred_at"])),
            "data": {"version": "1.0.0", "reg_type": REG_TYPE,
                     "reg_event_type": SPEC_EVENT.get(event["kind"], "REGISTER"),
                     "reg_record_type": sub["notify_record_type"], "reg_records": record},
            "registry_event": {"id": event["id"],
                               "type": EVENT_NAMESPACE + HUB_EVENT[event["kind"]],
                               "occurred_at": timestamp(as_utc(event["occurred_at"])),
                               "detail": event["detail"] or {}}}
        if event["person_id"] is not None:
            item["registry_event"]["person"] = f"urn:slrt-hub:person:{event['person_id']}"
        if sub["locale"]:
            item["locale"] = sub["locale"]
        return item

