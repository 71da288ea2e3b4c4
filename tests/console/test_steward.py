"""The data steward's desk over a reconciled district: the review queue side by side
with its evidence, a decision, findings per village resolved with a reason, a
person's lineage, a split; and a steward of one kecamatan kept to it."""

from __future__ import annotations

import re

import orjson
from sqlalchemy import func, select

from hub.access.officers import DeskKind
from hub.access.roles import Role
from hub.db.models import AuditLog, Finding, Household, Person, ReviewTask, SourceRecord
from tests.console.helpers import officer_for
from tests.redteam.conftest import District, cross_region_task, district  # noqa: F401
from tests.sync.conftest import (  # noqa: F401
    agencies,
    hub_engine,
    hub_settings,
    sync_population,
)


async def test_the_steward_reviews_resolves_and_splits(district: District) -> None:  # noqa: F811
    steward = await officer_for(district.app, district.engine, DeskKind.STEWARD,
                                Role.DISTRICT, ("33.14",))
    try:
        home = await steward.get("/console/")
        assert home.headers["location"] == "/console/review"
        queue = (await steward.get("/console/review")).text
        tasks = re.findall(r'action="/console/review/(\d+)"', queue)
        assert tasks, "a reconciled district has pairs to review"
        assert "Berdampingan" in queue
        assert "Bobot" in queue
        assert re.search(r"[+-]\d+\.\d\d</td>", queue)  # per-field weights shown
        decided = await steward.post(f"/console/review/{tasks[0]}",
                                     {"decision": "NOT_LINK", "reason": "beda orang"})
        assert decided.headers["location"] == "/console/review"
        async with district.engine.connect() as conn:
            status = (await conn.execute(select(ReviewTask.status).where(
                ReviewTask.id == int(tasks[0])))).scalar_one()
        assert status == "REJECTED"
        assert f'action="/console/review/{tasks[0]}"' not in (
            await steward.get("/console/review")).text

        findings = (await steward.get("/console/findings")).text
        assert "Temuan terbuka per desa dan jenis" in findings
        finding = re.search(r'action="/console/findings/(\d+)/resolve"', findings).group(1)
        refused = await steward.post(f"/console/findings/{finding}/resolve",
                                     {"reason": "", "next": "/console/findings"})
        assert "problem=reason" in refused.headers["location"]
        await steward.post(f"/console/findings/{finding}/resolve",
                           {"reason": "sudah dicek di lapangan", "next": "/console/findings"})
        async with district.engine.connect() as conn:
            resolved = (await conn.execute(select(Finding.status, Finding.resolved_reason)
                                           .where(Finding.id == int(finding)))).one()
        assert tuple(resolved) == ("RESOLVED", "sudah dicek di lapangan")

        async with district.engine.connect() as conn:
            person = (await conn.execute(
                select(Person.id, Person.nik).join(SourceRecord,
                                                   SourceRecord.person_id == Person.id)
                .where(Person.nik.is_not(None)).group_by(Person.id, Person.nik)
                .having(func.count(SourceRecord.id) >= 3).order_by(Person.id).limit(1))).one()
            persons_before = (await conn.execute(select(func.count(Person.id)))).scalar_one()
        page = (await steward.get(f"/console/person/{person.nik}")).text
        records = sorted(set(re.findall(r'name="record" value="(\d+)"', page)))
        assert len(records) >= 2
        split = await steward.post(f"/console/person/{person.nik}/split",
                                   {"record": records[-1], "reason": "bukan orang ini"})
        assert split.headers["location"] == f"/console/person/{person.nik}"
        async with district.engine.connect() as conn:
            assert (await conn.execute(select(func.count(Person.id)))).scalar_one() == \
                persons_before + 1
            moved = (await conn.execute(select(SourceRecord.person_id).where(
                SourceRecord.id == int(records[-1])))).scalar_one()
        assert moved != person.id
    finally:
        await steward.aclose()


async def test_a_steward_of_one_kecamatan_sees_no_pair_reaching_outside(
        district: District) -> None:  # noqa: F811
    pair = await cross_region_task(district)
    steward = await officer_for(district.app, district.engine, DeskKind.STEWARD,
                                Role.DISTRICT, (district.here,))
    try:
        queue = (await steward.get("/console/review")).text
        assert f'action="/console/review/{pair["task"]}"' not in queue
        assert str(pair["candidate_nik"]) not in queue
        tried = await steward.post(f"/console/review/{pair['task']}",
                                   {"decision": "LINK", "reason": "x"})
        assert "problem=" in tried.headers["location"]
        async with district.engine.connect() as conn:
            status = (await conn.execute(select(ReviewTask.status).where(
                ReviewTask.id == pair["task"]))).scalar_one()
        assert status == "OPEN"
        lineage = await steward.get(f"/console/person/{pair['candidate_nik']}")
        assert lineage.status_code == 404
    finally:
        await steward.aclose()


async def test_the_household_card_shows_its_members_open_findings(
        district: District) -> None:  # noqa: F811
    async with district.engine.connect() as conn:
        found = (await conn.execute(
            select(Person.nik, Person.region_code, Household.kk, Finding.kind)
            .join(Finding, (Finding.subject_type == "person")
                  & (Finding.subject_id == Person.id))
            .join(Household, Household.id == Person.household_id)
            .where(Finding.status == "OPEN", Finding.kind == "ELIGIBLE_NOT_COVERED",
                   Household.kk.is_not(None))
            .order_by(Finding.id).limit(1))).one()
    front = await officer_for(district.app, district.engine, DeskKind.FRONT, Role.DISTRICT,
                              ("33.14",))
    village = await officer_for(district.app, district.engine, DeskKind.FRONT,
                                Role.FACILITATOR, (found.region_code,))
    try:
        card = (await front.get(f"/console/household/{found.kk}")).text
        assert "Temuan terbuka" in card
        assert "Layak, belum tercakup" in card
        # A facilitator may not read findings: the card has no such section, and the
        # console does not even ask (no refused read in the audit log).
        card = await village.get(f"/console/household/{found.kk}")
        assert card.status_code == 200
        assert "Temuan terbuka" not in card.text
        await district.flush_audit()
        async with district.engine.connect() as conn:
            entries = [orjson.loads(e) for e in (await conn.execute(
                select(AuditLog.entry).where(AuditLog.entry.like(
                    f'%{village.username}%')))).scalars()]
        mine = [e for e in entries if e.get("officer") == village.username]
        assert any(e["operation"] == "ConsoleHousehold" for e in mine)
        assert all(e["outcome"] != "refused" for e in mine)
    finally:
        await front.aclose()
        await village.aclose()
