"""A steward acts only inside its regions: every person a decision touches (the record's
person, the candidate, both sides of a merge, the person split) must be in scope, or
the whole mutation is NOT_FOUND and nothing changes. Review tasks show only pairs whose
two persons are both in scope."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.access.roles import Role
from hub.db.models import Enrollment, Finding, LinkDecision, Person, ReviewTask, SourceRecord
from tests.redteam.conftest import District, cross_region_task


async def snapshot(engine: AsyncEngine) -> str:
    """A digest of everything a steward's mutation could change."""
    digest = hashlib.sha256()
    async with engine.connect() as conn:
        for statement in (
            select(Person.id, Person.nik, Person.name, Person.region_code,
                   Person.household_id).order_by(Person.id),
            select(SourceRecord.id, SourceRecord.person_id, SourceRecord.link_method,
                   SourceRecord.link_locked).order_by(SourceRecord.id),
            select(ReviewTask.id, ReviewTask.status).order_by(ReviewTask.id),
            select(Finding.id, Finding.status).order_by(Finding.id),
            select(Enrollment.person_id, Enrollment.program, Enrollment.status)
            .order_by(Enrollment.person_id, Enrollment.program),
            select(LinkDecision.id).order_by(LinkDecision.id),
        ):
            for row in (await conn.execute(statement)).all():
                digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()


async def _records_of(engine: AsyncEngine, person: int) -> list[int]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(SourceRecord.id).where(
            SourceRecord.person_id == person).order_by(SourceRecord.id))).scalars())


async def _someone_here(district: District, besides: set[int]) -> int:
    async with district.engine.connect() as conn:
        return (await conn.execute(select(Person.id).where(
            Person.region_code.like(f"{district.here}.%"), Person.id.not_in(besides))
            .order_by(Person.id).limit(1))).scalar_one()


def _code(errors: list[dict[str, Any]]) -> str:
    return errors[0]["extensions"]["code"]


async def test_no_steward_mutation_reaches_a_person_outside_the_scope(
        district: District) -> None:
    pair = await cross_region_task(district)
    attacker = await district.client(Role.DISTRICT, (district.here,))
    theirs = pair["candidate"]
    mine = await _someone_here(district, {pair["owner"]})
    their_records = await _records_of(district.engine, theirs)
    assert their_records
    before = await snapshot(district.engine)

    attempts = {
        "resolveReviewTask LINK": ('mutation($t: ID!) { resolveReviewTask(id: $t, '
                                   'decision: LINK, reason: "x") }', {"t": pair["task"]}),
        "resolveReviewTask NOT_LINK": ('mutation($t: ID!) { resolveReviewTask(id: $t, '
                                       'decision: NOT_LINK) }', {"t": pair["task"]}),
        "linkRecord into theirs": ('mutation($r: ID!, $p: ID!) { linkRecord(recordId: $r, '
                                   'personId: $p) { id } }', {"r": pair["record"],
                                                             "p": theirs}),
        "linkRecord of theirs": ('mutation($r: ID!, $p: ID!) { linkRecord(recordId: $r, '
                                 'personId: $p) { id } }', {"r": their_records[0],
                                                           "p": mine}),
        "unlinkRecord of theirs": ('mutation($r: ID!) { unlinkRecord(recordId: $r) { id } }',
                                   {"r": their_records[0]}),
        "mergePersons keep theirs": ('mutation($k: ID!, $m: ID!) { mergePersons(keep: $k, '
                                     'merge: $m) { id } }', {"k": theirs, "m": mine}),
        "mergePersons merge theirs": ('mutation($k: ID!, $m: ID!) { mergePersons(keep: $k, '
                                      'merge: $m) { id } }', {"k": mine, "m": theirs}),
        "splitPerson theirs": ('mutation($p: ID!, $r: [ID!]!) { splitPerson(personId: $p, '
                               'recordIds: $r) { id } }', {"p": theirs,
                                                          "r": their_records[:1]}),
    }
    for name, (query, variables) in attempts.items():
        errors = await attacker.errors(query, **variables)
        assert _code(errors) == "NOT_FOUND", (name, errors)
        assert str(pair["candidate_nik"]) not in str(errors), name
    assert await snapshot(district.engine) == before, "a refused mutation changed data"

    # The review queue does not show the pair, whichever status is asked for.
    for status in ("OPEN", "OBSOLETE", "LINKED", "REJECTED"):
        tasks = (await attacker.data("query($s: String!) { reviewTasks(status: $s, "
                                     "first: 500) { id record { values } candidate { nik } }"
                                     " }", s=status))["reviewTasks"]
        assert str(pair["task"]) not in {t["id"] for t in tasks}, status
        assert str(pair["candidate_nik"]) not in str(tasks)

    # A steward whose regions hold both persons settles the same task.
    both = await district.client(Role.DISTRICT, (district.here, district.there))
    tasks = (await both.data("{ reviewTasks(first: 500) { id } }"))["reviewTasks"]
    assert str(pair["task"]) in {t["id"] for t in tasks}
    settled = await both.data('mutation($t: ID!) { resolveReviewTask(id: $t, '
                              'decision: NOT_LINK, reason: "different people") }',
                              t=pair["task"])
    assert settled["resolveReviewTask"] == "REJECTED"


async def test_triggering_a_sync_needs_a_whole_regency(district: District) -> None:
    narrow = await district.client(Role.DISTRICT, (district.here,))
    errors = await narrow.errors('mutation { triggerSync(connector: "dukcapil") { id } }')
    assert _code(errors) == "FORBIDDEN"
    regency = ".".join(district.here.split(".")[:2])
    wide = await district.client(Role.DISTRICT, (regency,))
    queued = await wide.data('mutation { triggerSync(connector: "dukcapil") { status } }')
    assert queued["triggerSync"]["status"] == "QUEUED"


async def test_ids_and_cursors_out_of_range_are_clear_errors(district: District) -> None:
    steward = await district.client(Role.DISTRICT, (district.here,))
    for query in ('mutation { mergePersons(keep: "99999999999999999999999999", merge: "1") '
                  '{ id } }',
                  'mutation { unlinkRecord(recordId: "-5") { id } }',
                  '{ reviewTasks(after: "djE") { id } }',
                  '{ findings(after: "WyJ2MSIsImZpbmRpbmciLFsieCJdXQ") { edges { cursor } } }'):
        errors = await steward.errors(query)
        assert _code(errors) == "BAD_USER_INPUT", (query, errors)
    long_name = "A" * 900_000
    errors = await steward.errors('query($n: String!, $r: String!) { searchPersons(name: $n, '
                                  'region: $r) { id } }', n=long_name, r=district.here)
    assert _code(errors) == "BAD_USER_INPUT"
    assert len(errors[0]["message"]) < 400
