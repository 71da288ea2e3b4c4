import asyncio
import json

from sqlalchemy import func, select

from hub.db.engine import create_engine
from hub.db.loader import load_population
from hub.db.migrate import upgrade
from hub.db.models import Enrollment, Household, Person, Region
from hub.domain.names import normalize_name


async def _counts(engine):
    async with engine.connect() as connection:
        return {
            name: (await connection.execute(select(func.count()).select_from(model))).scalar_one()
            for name, model in (
                ("households", Household), ("persons", Person), ("enrollments", Enrollment),
            )
        }


async def test_load_matches_the_manifest_and_reload_replaces(empty_database_url, small_population):
    manifest = json.loads((small_population / "manifest.json").read_text())
    await asyncio.to_thread(upgrade, empty_database_url)
    engine = create_engine(empty_database_url)
    try:
        loaded = await load_population(engine, small_population)
        expected = {k: manifest["counts"][k] for k in ("households", "persons", "enrollments")}
        assert loaded == expected
        assert await _counts(engine) == expected
        # Loading again replaces rather than duplicates.
        await load_population(engine, small_population)
        assert await _counts(engine) == expected
        async with engine.connect() as connection:
            row = (await connection.execute(select(Person).limit(1))).first()
            villages = (
                await connection.execute(select(func.count()).select_from(Region))
            ).scalar_one()
        assert row.name_normalized == normalize_name(row.name)
        assert villages > 100
    finally:
        await engine.dispose()


async def test_persons_without_nik_are_allowed(loaded_engine):
    async with loaded_engine.begin() as connection:
        await connection.execute(
            Person.__table__.insert(),
            {"id": 10_000_000, "nik": None, "name": "Tanpa NIK", "name_normalized": "TANPA NIK",
             "alive": True},
        )
        count = (
            await connection.execute(select(func.count()).where(Person.id == 10_000_000))
        ).scalar_one()
        assert count == 1
        await connection.rollback()


async def test_a_loaded_registry_has_its_village_figures(loaded_engine):
    """The loader counts every village: region statistics are sums of these rows."""
    from tests.figures import expected_and_stored

    expected, stored = await expected_and_stored(loaded_engine)
    assert stored == expected
    assert len(stored[0]) > 10
