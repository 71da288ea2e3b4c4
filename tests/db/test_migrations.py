import asyncio

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from hub.db.engine import create_engine
from hub.db.migrate import downgrade, upgrade
from hub.db.models import Base

EXPECTED_TABLES = {
    "region", "household", "person", "source_record", "enrollment", "finding", "sync_run",
}


async def _schema_diff(url: str) -> list:
    engine = create_engine(url)
    async with engine.connect() as connection:
        diff = await connection.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
        )
        tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        indexes = await connection.run_sync(
            lambda sync: {
                ix["name"]: ix["column_names"]
                for table in ("person", "household")
                for ix in inspect(sync).get_indexes(table)
            }
        )
    await engine.dispose()
    return diff, tables, indexes


async def test_upgrade_builds_exactly_the_models(empty_database_url):
    await asyncio.to_thread(upgrade, empty_database_url)
    diff, tables, indexes = await _schema_diff(empty_database_url)
    assert diff == []
    assert tables >= EXPECTED_TABLES
    # The look-ups the API makes are indexed: NIK, KK (unique constraint), region.
    assert indexes["ix_person_nik_id"] == ["nik", "id"]
    assert indexes["ix_household_village_id"] == ["village_code", "id"]


async def test_downgrade_to_base_and_back(empty_database_url):
    await asyncio.to_thread(upgrade, empty_database_url)
    await asyncio.to_thread(downgrade, empty_database_url, "base")
    engine = create_engine(empty_database_url)
    async with engine.connect() as connection:
        remaining = await connection.run_sync(lambda s: set(inspect(s).get_table_names()))
    await engine.dispose()
    assert not (remaining & EXPECTED_TABLES)
    await asyncio.to_thread(upgrade, empty_database_url)
    diff, tables, _ = await _schema_diff(empty_database_url)
    assert diff == []
    assert tables >= EXPECTED_TABLES


async def test_the_village_figures_migration_counts_an_existing_registry(
        empty_database_url, small_population):
    """A registry loaded before 0015 gets its figures from the upgrade itself."""
    from hub.db.loader import load_population
    from tests.figures import expected_and_stored

    await asyncio.to_thread(upgrade, empty_database_url)
    engine = create_engine(empty_database_url)
    try:
        await load_population(engine, small_population)
        await engine.dispose()
        await asyncio.to_thread(downgrade, empty_database_url, "0014")
        await asyncio.to_thread(upgrade, empty_database_url)
        expected, stored = await expected_and_stored(engine)
        assert stored == expected
        assert stored[1], "some village has programme coverage"
    finally:
        await engine.dispose()
