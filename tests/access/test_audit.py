"""The audit log: every personal-data read and every mutation is recorded with who,
why and what; the hash chain proves nothing was changed; a citizen's trail can be
exported."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from hub.access import audit
from hub.access.audit import AuditEvent, AuditWriter, append, verify
from hub.access.roles import Principal, Role
from hub.cli import app as cli
from hub.db.engine import create_engine
from hub.db.loader import load_population
from hub.db.migrate import upgrade
from hub.db.models import AuditLog, Person
from tests.access.conftest import Hub, open_hub, people_in
from tests.access.test_api import HERE, PERSON, THERE
from tests.schema.helpers import register

TRAIL = """query($nik: String!) { auditTrail(nik: $nik) { client role purpose legalBasis
    operationType operation fields at id outcome } }"""


async def test_a_read_is_audited_with_its_purpose_fields_and_subject(hub: Hub) -> None:
    reader = await hub.client(Role.NATIONAL)
    person, = await people_in(hub.engine, HERE, 1)
    response = await reader.post(PERSON.replace("query(", "query LookUp("),
                                 {"nik": person.nik}, **{"x-purpose": "verifikasi PBI-JKN"})
    assert response.json()["data"]["person"]["nik"] == person.nik
    await hub.flush_audit()

    accesses = [a for a in await audit.trail(hub.engine, person.nik)
                if a["client"] == reader.name]
    assert len(accesses) == 1
    access = accesses[0]
    assert access["purpose"] == "verifikasi PBI-JKN"
    assert access["legal_basis"] == "Permensos 15/2018 (SLRT)"
    assert access["operation"] == "LookUp"
    assert access["operation_type"] == "query"
    assert {"Person.name", "Person.nik", "Household.kk"} <= set(access["fields"])

    district = await hub.client(Role.DISTRICT, (HERE,))
    trail = (await district.data(TRAIL, nik=person.nik))["auditTrail"]
    assert [a["purpose"] for a in trail if a["client"] == reader.name] == ["verifikasi PBI-JKN"]
    # Another district cannot ask about this person; a facilitator cannot ask at all.
    other = await hub.client(Role.DISTRICT, (THERE,))
    assert (await other.errors(TRAIL, nik=person.nik))[0]["extensions"]["code"] == "NOT_FOUND"
    facilitator = await hub.client(Role.FACILITATOR, (HERE,))
    errors = await facilitator.errors(TRAIL, nik=person.nik)
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_read_of_nothing_personal_is_not_audited_and_a_withheld_row_is_in_the_trail(
        hub: Hub) -> None:
    client = await hub.client(Role.DISTRICT, (HERE,))
    theirs, = await people_in(hub.engine, THERE, 1)
    await client.data("{ regencies { code name } }")
    await client.data(PERSON, nik=theirs.nik)  # out of scope: reads as null
    await hub.flush_audit()
    async with hub.engine.connect() as conn:
        entries = [json.loads(e) for e in (await conn.execute(select(AuditLog.entry).where(
            AuditLog.client_id == _client_id(client)))).scalars()]
    # The look-up is recorded (the client asked about personal data); the person was
    # withheld, not returned, and their own trail shows the attempt.
    assert [e["root_fields"] for e in entries] == [["person"]]
    assert entries[0]["subjects"] == [["withheld", theirs.id, theirs.nik]]
    national = await hub.client(Role.NATIONAL)
    trail = (await national.data(TRAIL, nik=theirs.nik))["auditTrail"]
    assert [a["id"] for a in trail if a["client"] == client.name] == [str(entries[0]["id"])]


def _client_id(client) -> int:
    return int(client.app.state.clients._cache[client.key][1].client_id)


async def test_mutations_are_audited_with_their_arguments(hub: Hub) -> None:
    client = await hub.client(Role.DISTRICT, ("33.14",))
    await client.post('mutation Again($c: String) { triggerSync(connector: $c) { status } }',
                      {"c": "no-such-connector"})
    await hub.flush_audit()
    async with hub.engine.connect() as conn:
        entry = json.loads((await conn.execute(select(AuditLog.entry).where(
            AuditLog.client_id == _client_id(client)))).scalar_one())
    assert entry["operation_type"] == "mutation"
    assert entry["operation"] == "Again"
    assert entry["variables"] == {"c": "no-such-connector"}
    assert entry["outcome"] == "errors"


def _event(number: int, subjects: int = 2) -> AuditEvent:
    principal = Principal(number % 3 + 1, f"client-{number % 3}", Role.DISTRICT, ("33.14",),
                          "Permensos 15/2018", "tests")
    event = AuditEvent(principal, "tests", "query", None, ["person"], ["Person.name"])
    for subject in range(subjects):
        event.note("person", number * 10 + subject, f"331401520885{number:04d}")
    return event


DROP_TRIGGERS = {
    "postgresql": ["DROP TRIGGER audit_log_append_only ON audit_log",
                   "DROP TRIGGER audit_subject_append_only ON audit_subject"],
    "sqlite": [f"DROP TRIGGER audit_{t}_{a}_refused" for t in ("audit_log", "audit_subject")
               for a in ("update", "delete")],
}


async def test_the_chain_verifies_and_shows_any_tampering(empty_database_url: str,
                                                          backend: str) -> None:
    await asyncio.to_thread(upgrade, empty_database_url)
    engine = create_engine(empty_database_url)
    try:
        for start in range(0, 30, 10):
            await append(engine, [_event(n) for n in range(start, start + 10)])
        result = await verify(engine)
        assert result.ok
        assert result.entries == 30

        # Append-only in the database itself.
        for statement in (update(AuditLog).where(AuditLog.id == 5).values(operation="x"),
                          text("DELETE FROM audit_log WHERE id = 30"),
                          text("DELETE FROM audit_subject")):
            with pytest.raises(DBAPIError, match="append-only"):
                async with engine.begin() as conn:
                    await conn.execute(statement)

        # An administrator who drops the triggers is still caught by the chain.
        async with engine.begin() as conn:
            for statement in DROP_TRIGGERS[backend]:
                await conn.exec_driver_sql(statement)
            original = (await conn.execute(select(AuditLog.entry).where(AuditLog.id == 7))
                        ).scalar_one()
            await conn.execute(update(AuditLog).where(AuditLog.id == 7).values(
                entry=original.replace("client-", "someone-")))
        broken = await verify(engine)
        assert not broken.ok
        assert broken.bad_id == 7
        assert "changed" in broken.problem

        async with engine.begin() as conn:
            await conn.execute(update(AuditLog).where(AuditLog.id == 7).values(entry=original))
        assert (await verify(engine)).ok
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM audit_subject WHERE audit_id = 30"))
            await conn.execute(text("DELETE FROM audit_log WHERE id = 30"))
        truncated = await verify(engine)
        assert not truncated.ok
        assert "removed from the end" in truncated.problem
    finally:
        await engine.dispose()


async def test_two_replicas_writing_at_once_keep_one_chain(empty_database_url: str) -> None:
    await asyncio.to_thread(upgrade, empty_database_url)
    engines = [create_engine(empty_database_url) for _ in range(2)]
    writers = [AuditWriter(engine, flush_seconds=0.001, batch=7) for engine in engines]
    try:
        for number in range(200):
            writers[number % 2].record(_event(number, subjects=1))
            if number % 25 == 0:
                await asyncio.sleep(0)
        await asyncio.gather(*(writer.close() for writer in writers))
        result = await verify(engines[0])
        assert result.ok, result.problem
        assert result.entries == 200
    finally:
        for engine in engines:
            await engine.dispose()


async def test_the_guard_holds_on_nested_paths(empty_database_url: str, small_population,
                                               settings_for) -> None:
    """A member whose own region differs from the household's (moved, not yet
    re-registered) is visible only to the clients of their region, whichever path
    leads to them."""
    await asyncio.to_thread(upgrade, empty_database_url)
    engine = create_engine(empty_database_url)
    await load_population(engine, small_population)
    settings = settings_for.model_copy(update={"database": settings_for.database.model_copy(
        update={"url": empty_database_url})})
    hub = await open_hub(settings, engine)
    try:
        head, member = await people_in(engine, HERE, 2)
        assert head.household_id == member.household_id
        async with engine.begin() as conn:
            await conn.execute(update(Person).where(Person.id == member.id).values(
                region_code=f"{THERE}.2001"))
        here = await hub.client(Role.DISTRICT, (HERE,))
        there = await hub.client(Role.DISTRICT, (THERE,))
        national = await hub.client(Role.NATIONAL)
        members = """query($kk: String!) { household(kk: $kk) { members { nik }
            head { nik } } }"""
        everyone = {m["nik"] for m in (await national.data(members, kk=head.kk))
                    ["household"]["members"]}
        assert member.nik in everyone
        seen_here = (await here.data(members, kk=head.kk))["household"]
        assert {m["nik"] for m in seen_here["members"]} == everyone - {member.nik}
        page = """{ households(region: "33.14", first: 500) { edges { node {
            members { nik } } } } }"""
        listed = {m["nik"] for e in (await here.data(page))["households"]["edges"]
                  for m in e["node"]["members"]}
        assert head.nik in listed
        assert member.nik not in listed
        # From the other district: the person, but not the household they left.
        moved = (await there.data(PERSON, nik=member.nik))["person"]
        assert moved["nik"] == member.nik
        assert moved["household"] is None
        assert (await there.data(members, kk=head.kk))["household"] is None
    finally:
        await hub.close()
        await engine.dispose()


def test_cli_registers_clients_verifies_and_exports_a_trail(tmp_path, monkeypatch) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"
    monkeypatch.setenv("HUB_DATABASE__URL", url)
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    created = runner.invoke(cli, ["clients", "create", "bpjs-kc-sragen", "--role", "agency",
                                  "--agency", "bpjs", "--region", "3314",
                                  "--legal-basis", "Perpres 82/2018 (JKN)",
                                  "--purpose", "PBI-JKN verification"])
    assert created.exit_code == 0, created.output
    key = created.output.strip().splitlines()[-1]
    assert key.startswith("slrt_")
    listed = runner.invoke(cli, ["clients", "list"])
    assert "bpjs-kc-sragen" in listed.output
    assert "33.14" in listed.output
    assert key not in listed.output
    again = runner.invoke(cli, ["clients", "create", "bpjs-kc-sragen", "--role", "agency",
                                "--agency", "bpjs", "--region", "33.14", "--legal-basis", "x",
                                "--purpose", "y"])
    assert again.exit_code == 2
    assert "exists already" in again.output
    rotated = runner.invoke(cli, ["clients", "rotate", "bpjs-kc-sragen"])
    assert rotated.output.strip().splitlines()[-1] not in (key, "")
    assert runner.invoke(cli, ["clients", "revoke", "bpjs-kc-sragen"]).exit_code == 0
    assert runner.invoke(cli, ["clients", "revoke", "bpjs-kc-sragen"]).exit_code == 2

    async def write_some() -> None:
        engine = create_engine(url)
        await append(engine, [_event(1), _event(2)])
        await engine.dispose()

    asyncio.run(write_some())
    verified = runner.invoke(cli, ["audit", "verify"])
    assert verified.exit_code == 0
    assert "2 entries" in verified.output
    nik = "3314015208850001"  # a subject of event 1
    out = tmp_path / "trail.csv"
    exported = runner.invoke(cli, ["audit", "trail", nik, "--format", "csv", "--out",
                                   str(out)])
    assert exported.exit_code == 0, exported.output
    lines = out.read_text().splitlines()
    assert lines[0].startswith("id,at,client")
    assert len(lines) == 2
    as_json = runner.invoke(cli, ["audit", "trail", nik])
    assert json.loads(as_json.output)["accesses"][0]["client"] == "client-1"
    assert runner.invoke(cli, ["audit", "trail", "12345"]).exit_code == 2


async def test_registered_helper_clients_are_distinct(loaded_engine: AsyncEngine) -> None:
    first = await register(loaded_engine, Role.NATIONAL)
    second = await register(loaded_engine, Role.NATIONAL)
    assert first != second
