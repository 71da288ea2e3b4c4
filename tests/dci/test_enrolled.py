"""IBR `registry/sync/enrolled`: is this person (NIK) or family (KK) enrolled in a
programme, yes or no; checked against the DCI IBR specification."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select

from hub.access.roles import Role
from hub.db.models import Enrollment, Household, Person
from tests.access.conftest import Hub
from tests.dci.spec import problems, request_problems
from tests.schema.helpers import GraphQLClient, register

PATH = "/registry/sync/enrolled"


def ask(subject: str, value: str, program: str) -> dict:
    return {
        "header": {"version": "1.0.0", "message_id": uuid.uuid4().hex,
                   "message_ts": datetime.now(UTC).isoformat(), "action": "search",
                   "sender_id": "baznas.example", "total_count": 1},
        "message": {"transaction_id": uuid.uuid4().hex[:16], "enrolled_criteria": {
            "query_type": "idtype-value", "response_entity": "Member",
            "query": {subject: {"eq": value},
                      "programme_identifier.program.programme_identifier": {"eq": program}}}},
    }


async def _ask(client: GraphQLClient, body: dict, status: int = 200) -> dict:
    assert request_problems("ibr", PATH, body) == []
    response = await client.http.post("/dci" + PATH, json=body)
    assert response.status_code == status, response.text
    reply = response.json()
    if status == 200:
        assert problems("ibr", "EnrolledResponse", reply["message"]) == []
    return reply


async def test_enrolled_answers_yes_or_no(hub: Hub) -> None:
    _, key = await register(hub.engine, Role.PARTNER, ("33.14",))
    partner = GraphQLClient(hub.app, key)
    hub.clients.append(partner)
    async with hub.engine.connect() as conn:
        nik, kk = (await conn.execute(
            select(Person.nik, Household.kk).join(Enrollment, Enrollment.person_id == Person.id)
            .join(Household, Household.id == Person.household_id)
            .where(Enrollment.program == "PBI_JKN", Enrollment.status == "ACTIVE",
                   Person.nik.is_not(None)).limit(1))).one()
        others = set((await conn.execute(select(Enrollment.program).join(
            Person, Person.id == Enrollment.person_id).where(
            Person.nik == nik, Enrollment.status == "ACTIVE"))).scalars())
    yes = await _ask(partner, ask("person_identifier", nik, "PBI_JKN"))
    assert yes["message"]["enrolled_response"][0]["enrolled_status"] == "yes"
    family = await _ask(partner, ask("group_identifier", kk, "PBI_JKN"))
    assert family["message"]["enrolled_response"][0]["enrolled_status"] == "yes"
    absent = next(p for p in ("BAZNAS", "PKH", "BPNT", "KIP_PIP") if p not in others)
    no = await _ask(partner, ask("person_identifier", nik, absent))
    assert no["message"]["enrolled_response"][0]["enrolled_status"] == "no"
    unknown = await _ask(partner, ask("person_identifier", "3314015208859999", "PBI_JKN"))
    assert unknown["message"]["enrolled_response"][0]["enrolled_status"] == "no"

    _, elsewhere_key = await register(hub.engine, Role.PARTNER, ("35.01",))
    elsewhere = GraphQLClient(hub.app, elsewhere_key)
    hub.clients.append(elsewhere)
    hidden = await _ask(elsewhere, ask("person_identifier", nik, "PBI_JKN"))
    assert hidden["message"]["enrolled_response"][0]["enrolled_status"] == "no"

    bad = ask("person_identifier", nik, "PBI_JKN")
    bad["message"]["enrolled_criteria"]["query"] = {"name": {"eq": "Siti"}}
    refused = await _ask(partner, bad, status=400)
    # The header may carry only the spec's header codes; the item's code leads the message.
    assert refused["header"]["status_reason_code"] == "rjct.action.invalid"
    assert refused["header"]["status_reason_message"].startswith("rjct.filter.invalid: ")
