"""The bulk writes reconciliation runs on: COPY on PostgreSQL, executemany on SQLite,
with the same rows in the table either way."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import select

from hub.db import bulk
from hub.db.engine import create_engine
from hub.db.migrate import upgrade
from hub.db.models import Person, RegistryEvent


async def test_bulk_insert_writes_json_nulls_and_python_defaults(
        empty_database_url: str) -> None:
    await asyncio.to_thread(upgrade, empty_database_url)
    engine = create_engine(empty_database_url)
    now = datetime.now(UTC)
    try:
        async with engine.begin() as conn:
            await bulk.bulk_insert(conn, Person.__table__, [
                {"name": "Siti Aminah", "name_normalized": "siti aminah",
                 "lineage": {"name": {"source": "dukcapil"}}},
                {"name": "Slamet", "name_normalized": "slamet", "lineage": {}},
            ])
            await bulk.bulk_insert(conn, RegistryEvent.__table__, [
                {"kind": "Death", "person_id": None, "household_id": None,
                 "region_code": "33.14", "detail": None, "occurred_at": now},
                {"kind": "DesilChange", "person_id": None, "household_id": None,
                 "region_code": None, "detail": {"from": 2, "to": 1}, "occurred_at": now},
            ], batch=1)
        async with engine.connect() as conn:
            persons = (await conn.execute(select(Person.name, Person.alive, Person.lineage)
                                          .order_by(Person.id))).all()
            events = (await conn.execute(select(RegistryEvent.kind, RegistryEvent.detail)
                                         .order_by(RegistryEvent.id))).all()
    finally:
        await engine.dispose()
    assert [(p.name, p.alive) for p in persons] == [("Siti Aminah", True), ("Slamet", True)]
    assert persons[0].lineage == {"name": {"source": "dukcapil"}}
    assert [(e.kind, e.detail) for e in events] == [("Death", None),
                                                   ("DesilChange", {"from": 2, "to": 1})]


async def test_inserted_rows_get_fresh_ids_in_order(empty_database_url: str) -> None:
    await asyncio.to_thread(upgrade, empty_database_url)
    engine = create_engine(empty_database_url)
    try:
        async with engine.begin() as conn:
            first = await bulk.insert_with_ids(conn, Person.__table__, [
                {"name": name, "name_normalized": name.lower()} for name in ("A", "B", "C")])
            await conn.execute(Person.__table__.insert().values(name="X", name_normalized="x"))
            second = await bulk.insert_with_ids(conn, Person.__table__, [
                {"name": "D", "name_normalized": "d"}])
            names = dict((await conn.execute(select(Person.id, Person.name))).all())
    finally:
        await engine.dispose()
    assert [names[i] for i in first + second] == ["A", "B", "C", "D"]
    assert len(names) == 5


async def test_the_planners_row_estimate_follows_analyze(empty_database_url: str) -> None:
    from hub.db.statistics import analyze, estimated_rows

    await asyncio.to_thread(upgrade, empty_database_url)
    engine = create_engine(empty_database_url)
    try:
        async with engine.begin() as conn:
            await bulk.bulk_insert(conn, Person.__table__, [
                {"name": f"Orang {i}", "name_normalized": f"orang {i}", "lineage": {}}
                for i in range(500)])
            await analyze(conn, "person")
            estimate = await estimated_rows(conn, "person")
            missing = await estimated_rows(conn, "no_such_table")
    finally:
        await engine.dispose()
    # PostgreSQL knows after ANALYZE; SQLite keeps no estimate, and says 0.
    assert estimate == (500 if "postgresql" in empty_database_url else 0)
    assert missing == 0
