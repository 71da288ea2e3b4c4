"""The SLRT desk end to end over GraphQL: a facilitator registers, the back office
recommends, the manager approves (the letter and its code), the agency answers, the
case closes; illegal steps, returns, the SLA watcher and letter verification."""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime, timedelta

import pypdf
from sqlalchemy import func, select, update

from hub.access.roles import Role
from hub.db.models import Referral, ReferralEvent, ServiceCase
from hub.services.desk import ServiceDesk
from tests.access.conftest import Hub, people_in

HERE = "33.14.05"

REGISTER = """mutation($case: CaseInput!) { registerCase(case: $case) {
    id ticket status inDtks homeVisit regionCode createdAt firstResponseDue
    person { nik name } } }"""
RECOMMEND = """mutation($c: ID!, $s: String!) { recommendReferral(caseId: $c, service: $s,
    notes: "husband hospitalised, no coverage", officer: "Bu Sri") { id status agency } }"""
REFERRAL = """fragment R on Referral { id status dueAt referredAt verificationCode overdue
    history { fromStatus toStatus actor officer reason } }"""


def _case(nik: str | None = None, **extra) -> dict:
    return {"kind": "COMPLAINT", "category": "HEALTH", "channel": "PUSKESOS",
            "urgency": "NORMAL", "description": "Keluarga belum punya KIS",
            **({"nik": nik} if nik else {}), **extra}


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def test_a_case_from_registration_to_closure(hub: Hub) -> None:
    person, = await people_in(hub.engine, HERE, 1)
    facilitator = await hub.client(Role.FACILITATOR, (person.region_code,))
    district = await hub.client(Role.DISTRICT, ("33.14",))
    bpjs = await hub.client(Role.AGENCY, ("33.14",), "bpjs")
    education = await hub.client(Role.AGENCY, ("33.14",), "education")

    case = (await facilitator.data(REGISTER, case=_case(person.nik)))["registerCase"]
    assert case["ticket"].startswith("SLRT-3314-")
    assert case["ticket"].endswith(f"{int(case['id']):06d}")
    assert case["status"] == "OPEN"
    assert case["person"]["nik"] == person.nik
    assert case["inDtks"] is True
    assert case["homeVisit"] is False
    assert _at(case["firstResponseDue"]) - _at(case["createdAt"]) == timedelta(hours=24)

    referral = (await district.data(RECOMMEND, c=case["id"], s="KIS_PBI"))["recommendReferral"]
    assert referral == {"id": referral["id"], "status": "RECOMMENDED", "agency": "bpjs"}
    own = await district.errors('mutation($id: ID!) { approveReferral(id: $id, officer: '
                                '"bu sri") { id } }', id=referral["id"])
    assert "another officer" in own[0]["message"]  # no approving one's own recommendation
    approved = (await district.data(
        "mutation($id: ID!) { approveReferral(id: $id, officer: \"Pak Manajer\") { ...R } }"
        + REFERRAL, id=referral["id"]))["approveReferral"]
    assert approved["status"] == "REFERRED"  # approved, and sent to the agency at once
    assert _at(approved["dueAt"]) - _at(approved["referredAt"]) == timedelta(hours=72)
    assert [h["toStatus"] for h in approved["history"]] == [
        "RECOMMENDED", "APPROVED", "REFERRED"]
    assert approved["history"][0]["officer"] == "Bu Sri"
    assert approved["history"][1]["actor"] == district.name
    code = approved["verificationCode"]

    # The letter: a PDF with the ticket, the service, the citizen and the code.
    letter = (await district.data("query($s: String!) { referrals(status: REFERRED, "
                                  "first: 50) { edges { node { id letterPdf } } } "
                                  "serviceCase(ticket: $s) { ticket } }",
                                  s=case["ticket"]))
    pdf = next(e["node"]["letterPdf"] for e in letter["referrals"]["edges"]
               if e["node"]["id"] == referral["id"])
    text = pypdf.PdfReader(io.BytesIO(base64.b64decode(pdf))).pages[0].extract_text()
    for expected in (case["ticket"], "KIS / PBI-JKN enrolment", person.nik, code, "BPJS"):
        assert expected in text
    verified = await district.http.get(f"/rujukan/verify/{code}")
    assert verified.json()["valid"] is True
    assert verified.json()["ticket"] == case["ticket"]
    assert person.nik not in verified.text
    assert (await district.http.get("/rujukan/verify/AAAAA-AAAAA")).status_code == 404

    # Only the agency addressed sees it; an illegal step is refused by name.
    assert referral["id"] not in {e["node"]["id"] for e in (await education.data(
        "{ referrals { edges { node { id } } } }"))["referrals"]["edges"]}
    seen = (await bpjs.data("{ referrals(status: REFERRED) { edges { node { id "
                            "case { ticket person { nik } } } } } }"))["referrals"]["edges"]
    mine = next(e["node"] for e in seen if e["node"]["id"] == referral["id"])
    assert mine["case"]["person"]["nik"] == person.nik
    errors = await education.errors("mutation($id: ID!) { acceptReferral(id: $id) { id } }",
                                    id=referral["id"])
    assert errors[0]["extensions"]["code"] == "NOT_FOUND"
    errors = await district.errors("mutation($id: ID!) { approveReferral(id: $id) { id } }",
                                   id=referral["id"])
    assert "a REFERRED referral cannot become APPROVED" in errors[0]["message"]
    assert "ACCEPTED, REJECTED" in errors[0]["message"]

    for step in ("acceptReferral(id: $id, officer: \"Petugas BPJS\")",
                 "fulfillReferral(id: $id, notes: \"KIS issued\")"):
        await bpjs.data(f"mutation($id: ID!) {{ {step} {{ id }} }}", id=referral["id"])
    closed = (await district.data("query($t: String!) { serviceCase(ticket: $t) { status "
                                  "closedAt referrals { status settledAt } } }",
                                  t=case["ticket"]))["serviceCase"]
    assert closed["status"] == "CLOSED"  # its only referral is settled
    assert closed["referrals"][0]["status"] == "FULFILLED"
    monitored = (await facilitator.data(
        "mutation($id: ID!) { monitorReferral(id: $id, notes: \"home visit: card in use\") "
        "{ status history { toStatus } } }", id=referral["id"]))["monitorReferral"]
    assert monitored["status"] == "MONITORED"
    assert [h["toStatus"] for h in monitored["history"]][-3:] == [
        "ACCEPTED", "FULFILLED", "MONITORED"]


async def test_returns_rejections_and_unknown_people(hub: Hub) -> None:
    district = await hub.client(Role.DISTRICT, ("33.14",))
    unknown = (await district.data(REGISTER, case=_case(
        "3314015208859998", name="Warga Baru", villageCode="33.14.05.2001",
        urgency="EMERGENCY", newPerson=True)))["registerCase"]
    assert unknown["person"] is None
    assert unknown["homeVisit"] is True
    assert _at(unknown["firstResponseDue"]) - _at(unknown["createdAt"]) == timedelta(hours=4)
    missing = await district.errors(REGISTER, case=_case("3314015208859997"))
    assert missing[0]["extensions"]["code"] == "NOT_FOUND"
    assert "newPerson" in missing[0]["message"]
    nameless = await district.errors(REGISTER, case=_case(
        "3314015208859997", villageCode="33.14.05.2001", newPerson=True))
    assert "name and villageCode" in nameless[0]["message"]
    bad = await district.errors(REGISTER, case=_case("1234"))
    assert bad[0]["extensions"]["code"] == "BAD_USER_INPUT"

    referral = (await district.data(RECOMMEND, c=unknown["id"], s="CIVIL_DOCUMENT")
                )["recommendReferral"]
    no_reason = await district.errors('mutation($id: ID!) { returnReferral(id: $id, '
                                      'reason: " ") { id } }', id=referral["id"])
    assert "needs a reason" in no_reason[0]["message"]
    returned = (await district.data('mutation($id: ID!) { returnReferral(id: $id, reason: '
                                    '"attach the birth letter") { status } }',
                                    id=referral["id"]))["returnReferral"]
    assert returned["status"] == "RETURNED"
    again = (await district.data('mutation($id: ID!) { resubmitReferral(id: $id, notes: '
                                 '"letter attached") { status } }', id=referral["id"]))
    assert again["resubmitReferral"]["status"] == "RECOMMENDED"
    await district.data("mutation($id: ID!) { approveReferral(id: $id) { id } }",
                        id=referral["id"])
    dukcapil = await hub.client(Role.AGENCY, ("33.14",), "dukcapil")
    rejected = (await dukcapil.data('mutation($id: ID!) { rejectReferral(id: $id, reason: '
                                    '"already registered in another regency") '
                                    '{ status dueAt } }', id=referral["id"]))
    assert rejected["rejectReferral"]["status"] == "REJECTED"
    case = (await district.data('query($t: String!) { serviceCase(ticket: $t) { status } }',
                                t=unknown["ticket"]))["serviceCase"]
    assert case["status"] == "CLOSED"
    bad_service = await district.errors(RECOMMEND, c=unknown["id"], s="NOPE")
    assert "KIS_PBI" in bad_service[0]["message"]


async def test_the_sla_watcher_escalates_once_even_after_downtime(hub: Hub) -> None:
    person, = await people_in(hub.engine, HERE, 1)
    district = await hub.client(Role.DISTRICT, ("33.14",))
    case = (await district.data(REGISTER, case=_case(person.nik)))["registerCase"]
    referral = (await district.data(RECOMMEND, c=case["id"], s="KIS_PBI"))["recommendReferral"]
    await district.data("mutation($id: ID!) { approveReferral(id: $id) { id } }",
                        id=referral["id"])
    await ServiceDesk(hub.engine, hub.settings).watch()  # now: ours is not due yet
    async with hub.engine.connect() as conn:
        early = (await conn.execute(select(ReferralEvent.to_status).where(
            ReferralEvent.referral_id == int(referral["id"])))).scalars().all()
    assert "ESCALATED" not in early
    # The hub was down for four days: the next watch catches what passed meanwhile.
    later = ServiceDesk(hub.engine, hub.settings,
                        clock=lambda: datetime.now(UTC) + timedelta(days=4))
    first = await later.watch()
    assert first["escalated"] >= 1
    assert (await later.watch())["escalated"] == 0  # each referral once
    async with hub.engine.connect() as conn:
        marks = (await conn.execute(select(ReferralEvent.to_status).where(
            ReferralEvent.referral_id == int(referral["id"])).order_by(ReferralEvent.id))
                 ).scalars().all()
    assert marks[-2:] == ["OVERDUE", "ESCALATED"]
    escalated = (await district.data("{ referrals(first: 500) { edges { node { id "
                                     "escalatedAt } } } }"))["referrals"]["edges"]
    assert next(e["node"]["escalatedAt"] for e in escalated
                if e["node"]["id"] == referral["id"]) is not None


async def test_cases_stay_in_their_region(hub: Hub) -> None:
    person, = await people_in(hub.engine, HERE, 1)
    elsewhere = await hub.client(Role.FACILITATOR, ("33.14.04.2001",))
    refused = await elsewhere.errors(REGISTER, case=_case(person.nik))
    assert refused[0]["extensions"]["code"] == "NOT_FOUND"
    district = await hub.client(Role.DISTRICT, (HERE,))
    case = (await district.data(REGISTER, case=_case(person.nik)))["registerCase"]
    other = await hub.client(Role.DISTRICT, ("33.14.04",))
    assert (await other.data("query($t: String!) { serviceCase(ticket: $t) { id } }",
                             t=case["ticket"]))["serviceCase"] is None
    tickets = {e["node"]["ticket"] for e in (await other.data(
        "{ serviceCases(first: 500) { edges { node { ticket regionCode } } } }"))
        ["serviceCases"]["edges"]}
    assert case["ticket"] not in tickets
    found = (await district.data('query($n: String!) { searchPersons(name: $n, region: '
                                 '"33.14.05") { nik } }', n=person.name.split()[0]))
    assert person.nik in {p["nik"] for p in found["searchPersons"]}


STATS = """query($r: String!) { region(code: $r) { serviceStats { received handled
    shareHandled overdueNow firstResponse { measured medianHours withinSla }
    fulfilment { measured withinSla } byCategory { category received handled }
    byAgency { agency referred fulfilled rejected overdueNow } coverageGaps { program } } } }"""


async def test_service_stats_count_what_the_desk_did(hub: Hub) -> None:
    """A region of its own (a district no other test uses) so the figures are exact."""
    village = "33.14.17"
    people = await people_in(hub.engine, village, 3)
    district = await hub.client(Role.DISTRICT, (village,))
    before = (await district.data(STATS, r=village))["region"]["serviceStats"]
    cases = [(await district.data(REGISTER, case=_case(p.nik, category=category)))
             ["registerCase"] for p, category in zip(people, ("HEALTH", "HEALTH", "OTHER"),
                                                     strict=True)]
    referral = (await district.data(RECOMMEND, c=cases[0]["id"], s="KIS_PBI")
                )["recommendReferral"]
    await district.data("mutation($id: ID!) { approveReferral(id: $id) { id } }",
                        id=referral["id"])
    bpjs = await hub.client(Role.AGENCY, (village,), "bpjs")
    await bpjs.data("mutation($id: ID!) { acceptReferral(id: $id) { id } }", id=referral["id"])
    await bpjs.data("mutation($id: ID!) { fulfillReferral(id: $id) { id } }", id=referral["id"])
    await district.data('mutation($id: ID!) { closeCase(id: $id, resolution: "answered at '
                        'the desk") { status } }', id=cases[2]["id"])
    after = (await district.data(STATS, r=village))["region"]["serviceStats"]
    assert after["received"] - before["received"] == 3
    assert after["handled"] - before["handled"] == 2  # one by its referral, one by hand
    assert after["firstResponse"]["measured"] - before["firstResponse"]["measured"] == 2
    assert after["firstResponse"]["withinSla"] == 1.0
    health = next(c for c in after["byCategory"] if c["category"] == "HEALTH")
    assert health["received"] >= 2
    bpjs_figures = next(a for a in after["byAgency"] if a["agency"] == "bpjs")
    assert bpjs_figures["fulfilled"] >= 1
    assert after["fulfilment"]["withinSla"] == 1.0
    assert {g["program"] for g in after["coverageGaps"]} == {"PBI_JKN", "KIP_PIP"}
    mine_in_wide = (await district.data(STATS, r="33"))["region"]["serviceStats"]
    assert mine_in_wide["received"] == after["received"]  # its own part of the province
    outside = await hub.client(Role.DISTRICT, ("33.14.04",))
    theirs = (await outside.data(STATS, r="33.14"))["region"]["serviceStats"]
    async with hub.engine.connect() as conn:
        there = (await conn.execute(select(func.count()).select_from(ServiceCase).where(
            ServiceCase.region_code.like("33.14.04.%")))).scalar_one()
    assert theirs["received"] == there


async def test_overdue_is_counted_per_category_and_adds_up(hub: Hub) -> None:
    """A case past its first response counts for its category, and so does a referral
    past its due time (under the category of its case); the categories add up to the
    region's overdue figure, which also counts per agency."""
    village = "33.14.16"
    people = await people_in(hub.engine, village, 3)
    assert len(people) == 3
    district = await hub.client(Role.DISTRICT, (village,))
    waiting, referred, on_time = [
        (await district.data(REGISTER, case=_case(p.nik, category=category)))["registerCase"]
        for p, category in zip(people, ("EDUCATION", "CIVIL_DOCUMENTS", "EDUCATION"),
                               strict=True)]
    referral = (await district.data(RECOMMEND, c=referred["id"], s="KIS_PBI")
                )["recommendReferral"]
    await district.data("mutation($id: ID!) { approveReferral(id: $id) { id } }",
                        id=referral["id"])
    past = datetime.now(UTC) - timedelta(hours=2)
    async with hub.engine.begin() as conn:
        await conn.execute(update(ServiceCase).where(ServiceCase.id == int(waiting["id"]))
                           .values(first_response_due=past))
        await conn.execute(update(Referral).where(Referral.id == int(referral["id"]))
                           .values(due_at=past))
    query = """query($r: String!) { region(code: $r) { serviceStats { overdueNow
        byCategory { category received overdueNow firstResponse { measured withinSla } }
        byAgency { agency overdueNow } } } }"""
    stats = (await district.data(query, r=village))["region"]["serviceStats"]
    per = {c["category"]: c for c in stats["byCategory"]}
    assert per["EDUCATION"]["received"] == 2
    assert per["EDUCATION"]["overdueNow"] == 1
    assert per["EDUCATION"]["firstResponse"]["measured"] == 0  # neither was answered
    assert per["CIVIL_DOCUMENTS"]["overdueNow"] == 1  # its referral is late
    assert per["CIVIL_DOCUMENTS"]["firstResponse"] == {"measured": 1, "withinSla": 1.0}
    assert sum(c["overdueNow"] for c in stats["byCategory"]) == stats["overdueNow"] == 2
    assert {a["agency"]: a["overdueNow"] for a in stats["byAgency"]} == {"bpjs": 1}
    assert on_time["status"] == "OPEN"


def test_the_letter_dates_in_indonesian() -> None:
    from hub.services.letter import LetterContent, render

    moment = datetime(2026, 8, 17, 9, 5, tzinfo=UTC)
    pdf = render(LetterContent("SLRT-3314-20260817-000001", moment, "baznas", "BAZNAS_AID",
                               "Baznas zakat aid", "Ngadiman \u2013 Raharjo", None,
                               "33.14.05.2001", "ECONOMIC", "NORMAL", "x", "ABCDE-FGHIJ",
                               moment + timedelta(days=7)))
    text = pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert "17 Agustus 2026 09:05 UTC" in text
    assert "24 Agustus 2026" in text
    assert "Ngadiman ? Raharjo" in text  # outside Latin-1: replaced, not a failure
