"""The console's desks end to end, in-process over the real app and database: a case
from the front office to the agency and back, with the officer in the history and the
audit log, and each desk kept to its own pages and its client's regions."""

from __future__ import annotations

import re

import orjson
from sqlalchemy import select

from hub.access.officers import DeskKind
from hub.access.roles import Role
from hub.db.models import AuditLog, ReferralEvent
from tests.access.conftest import Hub, people_in
from tests.console.helpers import officer_for

HERE = "33.14.05"


def _ticket(location: str) -> str:
    found = re.fullmatch(r"/console/cases/(SLRT-[\w-]+)", location)
    assert found, location
    return found.group(1)


async def test_a_case_from_the_front_office_to_the_agency(hub: Hub) -> None:
    person, = await people_in(hub.engine, HERE, 1)
    front = await officer_for(hub.app, hub.engine, DeskKind.FRONT, Role.FACILITATOR,
                              (person.region_code,))
    back = await officer_for(hub.app, hub.engine, DeskKind.BACK, Role.DISTRICT, ("33.14",))
    manager = await officer_for(hub.app, hub.engine, DeskKind.MANAGER, Role.DISTRICT,
                                ("33.14",))
    bpjs = await officer_for(hub.app, hub.engine, DeskKind.AGENCY, Role.AGENCY, ("33.14",),
                             "bpjs")
    try:
        found = await front.get("/console/search", q=person.nik)
        assert found.status_code == 200
        assert person.name in found.text
        assert f"/console/household/{person.kk}" in found.text
        card = await front.get(f"/console/household/{person.kk}")
        assert card.status_code == 200
        assert person.nik in card.text

        registered = await front.post("/console/cases/new", {
            "nik": person.nik, "kind": "COMPLAINT", "category": "HEALTH",
            "channel": "WALK_IN", "urgency": "EMERGENCY",
            "description": "Suami dirawat di rumah sakit, belum punya KIS"})
        assert registered.status_code == 303, registered.text
        ticket = _ticket(registered.headers["location"])
        page = await front.get(f"/console/cases/{ticket}")
        assert page.status_code == 200
        assert "Darurat" in page.text
        assert person.name in page.text

        queue = await back.get("/console/queue")
        assert ticket in queue.text
        case_page = (await back.get(f"/console/cases/{ticket}")).text
        case_id = re.search(r'name="case_id" value="(\d+)"', case_page).group(1)
        recommended = await back.post(f"/console/cases/{ticket}/recommend", {
            "case_id": case_id, "service": "KIS_PBI", "notes": "belum ada KIS"})
        assert recommended.headers["location"] == f"/console/cases/{ticket}"

        waiting = (await manager.get("/console/approvals")).text
        referral_id = re.search(r'/console/referrals/(\d+)/approve', waiting).group(1)
        assert ticket in waiting
        approved = await manager.post(f"/console/referrals/{referral_id}/approve",
                                      {"next": "/console/approvals"})
        assert approved.headers["location"] == "/console/approvals"

        inbox = (await bpjs.get("/console/referrals")).text
        assert ticket in inbox
        await bpjs.post(f"/console/referrals/{referral_id}/accept",
                        {"next": "/console/referrals"})
        await bpjs.post(f"/console/referrals/{referral_id}/fulfill",
                        {"next": "/console/referrals", "text": "KIS PBI diterbitkan"})
        closed = (await back.get(f"/console/cases/{ticket}")).text
        assert "Selesai" in closed
        assert "Terpenuhi" in closed

        async with hub.engine.connect() as conn:
            officers = (await conn.execute(select(ReferralEvent.officer).where(
                ReferralEvent.referral_id == int(referral_id)).order_by(ReferralEvent.id))
                        ).scalars().all()
        # The hub's own step (REFERRED) names no officer; every desk's step names its own.
        assert [o for o in officers if o] == [back.username, manager.username,
                                              bpjs.username, bpjs.username]
        await hub.flush_audit()
        async with hub.engine.connect() as conn:
            entries = [orjson.loads(e) for e in (await conn.execute(
                select(AuditLog.entry).order_by(AuditLog.id.desc()).limit(200))).scalars()]
        by_officer = {e.get("officer") for e in entries}
        assert {front.username, back.username, manager.username, bpjs.username} <= by_officer
        registration = next(e for e in entries if e.get("operation") == "ConsoleRegisterCase")
        assert registration["officer"] == front.username
    finally:
        for officer in (front, back, manager, bpjs):
            await officer.aclose()
