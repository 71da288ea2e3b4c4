"""Guard rows (hub.db.guard.insert_once): the first insert of a key is kept, the next is
refused, on either backend; on PostgreSQL the relaxed durability stays with the one
statement and does not leak into the pooled connection."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, MetaData, String, Table, func, select, text

from hub.db.engine import create_engine
from hub.db.guard import insert_once

METADATA = MetaData()
SEEN = Table("seen_message", METADATA,
             Column("sender_id", String(40), primary_key=True),
             Column("message_id", String(40), primary_key=True),
             Column("received_at", DateTime(timezone=True), nullable=False))


async def test_a_key_is_kept_once(empty_database_url):
    engine = create_engine(empty_database_url, pool_size=1, max_overflow=0)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(METADATA.create_all)
            if engine.dialect.name == "postgresql":  # the test server runs with it off
                await conn.execute(text("SET synchronous_commit TO on"))
        now = datetime.now(UTC)
        first = {"sender_id": "a", "message_id": "m1", "received_at": now}
        assert await insert_once(engine, SEEN, first) is True
        assert await insert_once(engine, SEEN, {**first, "received_at": now}) is False
        assert await insert_once(engine, SEEN, {**first, "sender_id": "b"}) is True
        assert await insert_once(engine, SEEN, {**first, "message_id": "m2"}) is True
        async with engine.connect() as conn:
            keys = (await conn.execute(select(SEEN.c.sender_id, SEEN.c.message_id)
                                       .order_by(SEEN.c.sender_id, SEEN.c.message_id))).all()
            assert [tuple(k) for k in keys] == [("a", "m1"), ("a", "m2"), ("b", "m1")]
            assert (await conn.execute(select(func.count()).select_from(SEEN))
                    ).scalar_one() == 3
            if engine.dialect.name == "postgresql":
                # The pool's only connection ran the guard: its setting is back.
                setting = (await conn.execute(text("SHOW synchronous_commit"))).scalar_one()
                assert setting == "on"
    finally:
        await engine.dispose()
