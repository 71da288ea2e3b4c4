"""Side doors past the field rules and region scope that the audit found: a finding's
evidence, registerCase's answers, a partner's reason texts, refused requests that left
no trace for the citizen."""

from __future__ import annotations

import json
import re

from sqlalchemy import select

from hub.access.documents import DocumentStore
from hub.access.roles import Role
from hub.db.models import Finding, Person
from tests.redteam.conftest import District

CASE = """mutation($case: CaseInput!) { registerCase(case: $case) { id homeVisit inDtks } }"""


def _case(**extra) -> dict:
    return {"kind": "COMPLAINT", "category": "HEALTH", "channel": "PUSKESOS",
            "urgency": "NORMAL", "description": "Belum punya KIS", **extra}


async def test_an_agency_reads_no_desil_and_no_other_agency_in_evidence(
        district: District) -> None:
    bpjs = await district.client(Role.AGENCY, (".".join(district.here.split(".")[:2]),),
                                 "bpjs")
    findings = (await bpjs.data("{ findings(first: 500) { edges { node { kind ownerAgency "
                                "evidence } } } }"))["findings"]["edges"]
    assert findings, "the district raised no finding for BPJS"
    kinds = set()
    for edge in findings:
        node = edge["node"]
        assert node["ownerAgency"] == "bpjs"
        evidence = node["evidence"]
        kinds.add(node["kind"])
        assert "desil" not in evidence, node
        assert "enrollments" not in evidence, node
        sources = re.findall(r'"source": "([a-z_]+)"', json.dumps(evidence))
        assert all(source.startswith("bpjs") for source in sources), node
    assert "ELIGIBLE_NOT_COVERED" in kinds
    # The district itself still reads the whole evidence.
    district_office = await district.client(Role.DISTRICT, (district.here,))
    full = (await district_office.data('{ findings(kind: ELIGIBLE_NOT_COVERED, first: 5) '
                                       '{ edges { node { evidence } } } }'))["findings"]
    assert all("desil" in e["node"]["evidence"] for e in full["edges"])


async def test_identity_mismatch_names_no_person_outside_the_scope(
        district: District) -> None:
    async with district.engine.connect() as conn:
        rows = (await conn.execute(select(Finding.id, Finding.evidence, Finding.region_code)
                                   .where(Finding.kind == "IDENTITY_MISMATCH"))).all()
        regions = dict((await conn.execute(select(Person.id, Person.region_code))).all())
    narrow = await district.client(Role.DISTRICT, (district.here,))
    seen = {e["node"]["id"]: e["node"]["evidence"] for e in (await narrow.data(
        '{ findings(kind: IDENTITY_MISMATCH, first: 500) { edges { node { id evidence } } } }'
    ))["findings"]["edges"]}
    for row in rows:
        if str(row.id) not in seen:
            continue
        shown = seen[str(row.id)].get("other_persons", [])
        assert all((regions.get(p) or "").startswith(district.here + ".") for p in shown)
        hidden = [p for p in row.evidence.get("other_persons", [])
                  if not (regions.get(p) or "").startswith(district.here + ".")]
        assert not set(hidden) & set(shown)


async def test_register_case_says_the_same_of_elsewhere_and_of_unknown(
        district: District) -> None:
    async with district.engine.connect() as conn:
        theirs = (await conn.execute(select(Person.nik).where(
            Person.region_code.like(f"{district.there}.%"), Person.nik.is_not(None))
            .limit(1))).scalar_one()
    desk = await district.client(Role.DISTRICT, (district.here,))
    unknown = "3314015208859991"
    answers = [await desk.errors(CASE, case=_case(nik=nik)) for nik in (theirs, unknown)]
    assert answers[0] == answers[1]
    assert answers[0][0]["extensions"]["code"] == "NOT_FOUND"
    # Registered explicitly as someone new: both answers alike again, and a home visit.
    async with district.engine.connect() as conn:
        village = (await conn.execute(select(Person.region_code).where(
            Person.region_code.like(f"{district.here}.%")).limit(1))).scalar_one()
    made = [(await desk.data(CASE, case=_case(nik=nik, newPerson=True, name="Warga",
                                                villageCode=village)))["registerCase"]
            for nik in (theirs, unknown)]
    assert [(m["homeVisit"], m["inDtks"]) for m in made] == [(True, False)] * 2


async def test_a_partner_reads_bands_not_facts(district: District) -> None:
    text = ("query($niks: [String!]!, $program: String!) { eligibilityBatch(niks: $niks, "
            "program: $program) { decision reasons { code text } desilBand } }")
    digest = (await DocumentStore(district.engine).register(text)).hash
    partner = await district.client(Role.PARTNER, (district.here,))
    async with district.engine.connect() as conn:
        niks = list((await conn.execute(select(Person.nik).where(
            Person.region_code.like(f"{district.here}.%"), Person.nik.is_not(None))
            .limit(300))).scalars())
    programs = (await (await district.client(Role.DISTRICT, (district.here,))).data(
        "{ eligibilityPrograms { name } }"))["eligibilityPrograms"]
    codes = set()
    for program in (p["name"] for p in programs):
        response = await partner.http.post("/graphql", json={
            "documentId": f"sha256:{digest}", "variables": {"niks": niks,
                                                              "program": program}})
        for item in response.json()["data"]["eligibilityBatch"]:
            for reason in item["reasons"]:
                codes.add(reason["code"])
                words = reason["text"].lower()
                assert not re.search(r"desil \d+ ", words), reason
                assert not re.search(r"younger|older|deceased|died|child|health|kis|pbi",
                                     words), reason
    assert {"DESIL_ABOVE_MAX"} & codes or {"ALREADY_ENROLLED"} & codes


async def test_a_refused_request_is_in_the_citizens_trail(district: District) -> None:
    async with district.engine.connect() as conn:
        nik = (await conn.execute(select(Person.nik).where(
            Person.region_code.like(f"{district.here}.%"), Person.nik.is_not(None))
            .limit(1))).scalar_one()
    facilitator = await district.client(Role.FACILITATOR, (district.here,))
    refused = await facilitator.post("query($n: String!) { person(nik: $n) { lineage "
                                     "{ field } } }", {"n": nik})
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    await district.app.state.audit.flush()
    national = await district.client(Role.NATIONAL)
    trail = (await national.data("query($n: String!) { auditTrail(nik: $n) { client "
                                 "outcome } }", n=nik))["auditTrail"]
    assert {"client": facilitator.name, "outcome": "refused"} in trail
