"""Alembic, driven from code so `slrt-hub db upgrade` needs no alembic.ini on disk."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

from hub.db.engine import ensure_sqlite_dir, is_sqlite

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head", *, partitions: str = "none") -> None:
    """Bring the database at `url` to `revision`, then (`partitions="province"`) lay
    the registry out in province partitions if it is not yet. Blocking: call it off
    the event loop."""
    if is_sqlite(url):
        ensure_sqlite_dir(url)
    command.upgrade(alembic_config(url), revision)
    if partitions == "province":
        asyncio.run(_partition(url))


async def _partition(url: str) -> None:
    from hub.db.engine import create_engine
    from hub.db.partitions import partition_registry

    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await partition_registry(conn)
    finally:
        await engine.dispose()


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def head_revision() -> str:
    """The newest migration this code ships."""
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head
