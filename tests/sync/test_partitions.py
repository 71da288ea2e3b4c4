"""The registry partitioned by province (#22), on a real PostgreSQL: the layout, the
ids that place rows, and a sync that gives the same unified view as the plain layout."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from asyncpg.exceptions import UniqueViolationError
from sqlalchemy import event, inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.access.roles import Role
from hub.config import HubSettings, load_settings
from hub.db import bulk
from hub.db.engine import create_engine
from hub.db.loader import load_population
from hub.db.migrate import upgrade
from hub.db.models import Base, Enrollment, Household, Person, SourceRecord
from hub.db.partitions import SCHEMA, PartitionError, partitioned_tables
from hub.domain.provinces import PROVINCES, province_of, province_of_id
from hub.sync.steward import Steward
from tests.conftest import Databases
from tests.schema.helpers import make_client
from tests.sync.conftest import sync_all


async def _engine(databases: Databases, partitions: str) -> AsyncEngine:
    url = databases.url("postgresql")
    await asyncio.to_thread(upgrade, url, partitions=partitions)
    return create_engine(url)


@pytest.fixture
async def national(databases: Databases) -> AsyncIterator[AsyncEngine]:
    engine = await _engine(databases, "province")
    yield engine
    await engine.dispose()


async def _rows_by_partition(engine: AsyncEngine, table: str) -> dict[int, str]:
    async with engine.connect() as conn:
        rows = await conn.execute(text(f"SELECT id, tableoid::regclass::text FROM {table}"))
        return {row_id: partition.removeprefix(f"{SCHEMA}.") for row_id, partition in rows}


async def test_the_national_layout_partitions_person_and_household_by_province(
        national: AsyncEngine, databases: Databases) -> None:
    async with national.connect() as conn:
        assert await partitioned_tables(conn) == {"person", "household"}
        partitions = dict((await conn.execute(text(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'person'::regclass"
        ))).all())
        referring = set((await conn.execute(text(
            "SELECT conrelid::regclass::text || '.' || conname FROM pg_constraint "
            "WHERE contype = 'f' AND conparentid = 0 AND confrelid = ANY(ARRAY["
            "'person'::regclass, 'household'::regclass])"))).scalars())
        unique_kk = set((await conn.execute(text(
            "SELECT conrelid::regclass::text FROM pg_constraint WHERE contype = 'u' "
            "AND conname LIKE 'uq_household_kk%'"))).scalars())
        tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        # PostgreSQL's own copies of a foreign key, one per partition it refers to.
        internal = set((await conn.execute(text(
            "SELECT conname FROM pg_constraint WHERE contype = 'f' AND conparentid <> 0"
        ))).scalars())
        diff = await conn.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata))
    assert set(partitions) == {f"person_p{p}" for p in PROVINCES} | {"person_other"}
    assert partitions["person_p33"] == "FOR VALUES FROM ('330000000000000') TO ('340000000000000')"
    assert partitions["person_other"] == "DEFAULT"
    # Every foreign key to the two tables is back, on the partitioned tables.
    assert referring == {"enrollment.fk_enrollment_person_id_person",
                         "source_record.fk_source_record_person_id_person",
                         "person.fk_person_household_id_household"}
    assert unique_kk == ({f"{SCHEMA}.household_p{p}" for p in PROVINCES}
                         | {f"{SCHEMA}.household_other"})
    # The application's schema holds the models' tables and nothing else; the only
    # difference from the models is the KK's uniqueness, held per partition.
    plain = await _engine(databases, "none")
    async with plain.connect() as conn:
        plain_tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    await plain.dispose()
    assert tables == plain_tables
    assert [(entry[0], entry[1].name) for entry in diff
            if not (entry[0] == "remove_fk" and entry[1].name in internal)] == [
        ("add_constraint", "uq_household_kk")]
    # Upgrading again leaves the layout as it is.
    url = national.url.render_as_string(hide_password=False)
    await asyncio.to_thread(upgrade, url, partitions="province")
    async with national.connect() as conn:
        assert await partitioned_tables(conn) == {"person", "household"}


async def test_ids_put_rows_in_their_provinces_and_a_kk_stays_unique(
        national: AsyncEngine) -> None:
    async with national.begin() as conn:
        await conn.execute(text("INSERT INTO region (code, level, name) VALUES "
                                "('33', 'PROVINCE', 'Jawa Tengah'), "
                                "('73', 'PROVINCE', 'Sulawesi Selatan')"))
        households = [{"kk": kk, "village_code": village} for kk, village in
                      (("3314010101010001", "33"), ("7303010101010001", "73"), (None, "33"))]
        ids = await bulk.insert_with_ids(conn, Household.__table__, households,
                                         ["33", "73", None])
        persons = await bulk.insert_with_ids(conn, Person.__table__, [
            {"name": "Siti", "name_normalized": "siti", "household_id": ids[1]}], ["73"])
        await conn.execute(Enrollment.__table__.insert().values(
            person_id=persons[0], program="PKH", status="ACTIVE", source="dtks"))
    placed = await _rows_by_partition(national, "household")
    assert [placed[i] for i in ids] == ["household_p33", "household_p73", "household_other"]
    assert (await _rows_by_partition(national, "person"))[persons[0]] == "person_p73"
    # The KK's unique key holds: a second household with the same KK is refused.
    with pytest.raises((IntegrityError, UniqueViolationError), match="uq_household_kk_p33"):
        async with national.begin() as conn:
            await bulk.insert_with_ids(conn, Household.__table__, [
                {"kk": "3314010101010001", "village_code": "33"}], ["33"])
    # And a foreign key into a partition still holds.
    with pytest.raises(IntegrityError, match="fk_enrollment_person_id_person"):
        async with national.begin() as conn:
            await conn.execute(Enrollment.__table__.insert().values(
                person_id=persons[0] + 1, program="PKH", status="ACTIVE", source="dtks"))


async def test_a_registry_that_holds_rows_is_not_laid_out_again(
        databases: Databases, small_population: Path) -> None:
    engine = await _engine(databases, "none")
    try:
        await load_population(engine, small_population)
        url = engine.url.render_as_string(hide_password=False)
        with pytest.raises(PartitionError, match="household already holds rows"):
            await asyncio.to_thread(upgrade, url, partitions="province")
        async with engine.connect() as conn:
            assert await partitioned_tables(conn) == set()
            assert (await conn.execute(text("SELECT count(*) FROM person"))).scalar() > 0
            assert (await conn.execute(text(
                "SELECT count(*) FROM pg_constraint WHERE conname = "
                "'fk_enrollment_person_id_person'"))).scalar() == 1
    finally:
        await engine.dispose()


async def test_a_loaded_population_lands_by_province_and_reads_alike(
        national: AsyncEngine, loaded_engines: dict[str, AsyncEngine],
        small_population: Path) -> None:
    await load_population(national, small_population, by_province=True)
    plain = loaded_engines["postgresql"]
    async with national.connect() as conn:
        persons = (await conn.execute(select(Person.id, Person.nik, Person.region_code)
                                      )).all()
    placed = await _rows_by_partition(national, "person")
    for person_id, nik, region in persons:
        assert placed[person_id] == f"person_p{province_of(nik, region)}"
    assert {province_of_id(i) for i, _, _ in persons} == {"33"}
    query = """query($nik: String!) { person(nik: $nik) { name birthDate alive
        household { kk desil villageCode members { nik relation } }
        enrollments { program status } } }"""
    answers = []
    for engine in (plain, national):
        url = engine.url.render_as_string(hide_password=False)
        client = await make_client(HubSettings(database={"url": url}), engine, Role.NATIONAL)
        try:
            answers.append([await client.data(query, nik=nik) for _, nik, _ in persons[:25]])
        finally:
            await client.aclose()
    assert answers[0] == answers[1]
    assert all(answer["person"] for answer in answers[1])
    # The sequences moved past the loaded serial numbers: the next id is a new one.
    async with national.begin() as conn:
        fresh = await bulk.insert_with_ids(conn, Person.__table__, [
            {"name": "Baru", "name_normalized": "baru"}], ["33"])
    assert fresh[0] not in placed


def _view(rows: list[Any]) -> dict[str, tuple[Any, ...]]:
    return {nik: rest for nik, *rest in rows}


async def _unified_view(engine: AsyncEngine) -> dict[str, tuple[Any, ...]]:
    async with engine.connect() as conn:
        rows = (await conn.execute(
            select(Person.nik, Person.name, Person.birth_date, Person.alive, Household.kk,
                   Household.desil, Household.village_code)
            .outerjoin(Household, Household.id == Person.household_id)
            .where(Person.nik.is_not(None)))).all()
        enrolled = (await conn.execute(select(Person.nik, Enrollment.program, Enrollment.status)
                                       .join(Enrollment, Enrollment.person_id == Person.id)
                                       .where(Person.nik.is_not(None)))).all()
    programs: dict[str, list[tuple[str, str]]] = {}
    for nik, program, status in enrolled:
        programs.setdefault(nik, []).append((program, status))
    return {nik: (*rest, sorted(programs.get(nik, []))) for nik, *rest in rows}


async def test_a_sync_into_the_national_layout_gives_the_same_unified_view(
        national: AsyncEngine, databases: Databases, agencies: dict[str, str]) -> None:
    plain = await _engine(databases, "none")
    base = load_settings()
    connectors = {name: conf.model_copy(update={"base_url": agencies[name]})
                  for name, conf in base.connectors.items()}
    try:
        for engine, partitions in ((plain, "none"), (national, "province")):
            url = engine.url.render_as_string(hide_password=False)
            settings = base.model_copy(update={"connectors": connectors, "database": (
                base.database.model_copy(update={"url": url, "partitions": partitions}))})
            assert (await sync_all(engine, settings)).ok
        plain_view, national_view = await _unified_view(plain), await _unified_view(national)
    finally:
        await plain.dispose()
    assert len(national_view) > 500
    assert national_view == plain_view
    # Each person sits in the partition of the province their NIK was issued in (or,
    # without one, where they live), and each household in its KK's.
    async with national.connect() as conn:
        persons = (await conn.execute(select(Person.id, Person.nik, Person.region_code))).all()
        households = (await conn.execute(select(Household.id, Household.kk,
                                                Household.village_code))).all()
    placed = await _rows_by_partition(national, "person")
    homes = await _rows_by_partition(national, "household")
    assert all(placed[i] == f"person_p{province_of(nik, region)}"
               for i, nik, region in persons if nik)
    assert all(homes[i] == f"household_p{province_of(kk, village)}"
               for i, kk, village in households)
    assert set(placed.values()) == {"person_p33"}
    # A steward's split makes its new person in the record's NIK's province too.
    async with national.connect() as conn:
        record = (await conn.execute(select(SourceRecord.id).where(
            SourceRecord.source == "dukcapil", SourceRecord.person_id.is_not(None))
            .limit(1))).scalar_one()
    split = await Steward(national, settings).unlink(record, "test", "two people")
    assert province_of_id(split) == "33"
    assert (await _rows_by_partition(national, "person"))[split] == "person_p33"


def _scanned(plan: dict[str, Any]) -> set[str]:
    """The person and household partitions a plan's executed nodes read."""
    found = set()
    if plan.get("Actual Loops", 0) and plan.get("Relation Name", "").startswith(
            ("person_", "household_")):
        found.add(plan["Relation Name"])
    for child in plan.get("Plans", []):
        found |= _scanned(child)
    return found


@pytest.mark.parametrize("planner", [True, False], ids=["planner", "resolvers"])
async def test_a_look_up_by_nik_or_kk_reads_one_partition_and_finds_a_stray(
        national: AsyncEngine, small_population: Path, planner: bool) -> None:
    await load_population(national, small_population, by_province=True)
    async with national.begin() as conn:
        nik, kk = (await conn.execute(
            select(Person.nik, Household.kk).join(Household, Household.id == Person.household_id)
            .where(Person.nik.is_not(None), Household.kk.is_not(None)).limit(1))).one()
        # A person filed under another province than their NIK's (made before the NIK
        # was known): the look-up still finds them, in a second step.
        stray = "3314015708800099"
        await bulk.insert_with_ids(conn, Person.__table__, [
            {"name": "Tersesat", "name_normalized": "tersesat", "nik": stray,
             "region_code": "73"}], ["73"])
    url = national.url.render_as_string(hide_password=False)
    settings = HubSettings(database={"url": url, "partitions": "province"},
                           server={"read_planner": planner})
    captured: list[tuple[str, tuple[Any, ...]]] = []

    def capture(record: Any) -> None:  # every statement, as the server received it
        captured.append((record.query, tuple(record.args or ())))

    # The resolvers' statements go through SQLAlchemy; the planner's straight to
    # asyncpg, caught on each connection.
    watched = create_engine(url)
    event.listen(watched.sync_engine, "connect",
                 lambda connection, _: connection.driver_connection.add_query_logger(capture))
    event.listen(watched.sync_engine, "before_cursor_execute",
                 lambda _c, _cursor, query, args, *_: captured.append((query, tuple(args))))
    client = await make_client(settings, watched, Role.NATIONAL)
    try:
        found = await client.data("query($nik: String!, $kk: String!) { "
                                  "person(nik: $nik) { nik } household(kk: $kk) { kk } }",
                                  nik=nik, kk=kk)
        lost = await client.data("query($nik: String!) { person(nik: $nik) { name } }",
                                 nik=stray)
    finally:
        await client.aclose()
        await watched.dispose()
    assert found == {"person": {"nik": nik}, "household": {"kk": kk}}
    assert lost == {"person": {"name": "Tersesat"}}
    looked_up = [(query, args) for query, args in captured
                 if re.search(r"\bid >= \$\d", query) and {nik, kk} & set(args)]
    assert looked_up, ("the look-ups carried a province range", captured)
    scanned: set[str] = set()
    async with national.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        for statement, parameters in looked_up:
            plan = await driver.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}",
                                         *parameters)
            plan = json.loads(plan) if isinstance(plan, str) else plan
            scanned |= _scanned(plan[0]["Plan"])
    assert scanned == {"person_p33", "household_p33"}
