"""One statement, one row, on the pool's raw asyncpg connection (hub.db.onerow): named
parameters become numbered ones, and a connection left mid-statement is never pooled
again."""

from __future__ import annotations

import asyncio

import pytest

from hub.db.engine import create_engine
from hub.db.onerow import OneRowStatement, fetch_one_row


def test_named_parameters_become_numbered_once_each():
    statement = OneRowStatement("SELECT :a, :b, :a, 'x::y', '[]'::json, c::text")
    assert statement.numbered == "SELECT $1, $2, $1, 'x::y', '[]'::json, c::text"
    assert statement.names == ("a", "b")


async def test_a_row_on_either_backend(empty_database_url):
    engine = create_engine(empty_database_url)
    try:
        row = await fetch_one_row(engine, OneRowStatement("SELECT :a || :b, :a"),
                                  {"a": "x", "b": "y"})
        assert tuple(row) == ("xy", "x")
    finally:
        await engine.dispose()


async def test_a_cancelled_statement_leaves_no_broken_connection_in_the_pool(databases):
    engine = create_engine(databases.url("postgresql"), pool_size=1, max_overflow=0)
    try:
        slow = asyncio.create_task(fetch_one_row(
            engine, OneRowStatement("SELECT pg_sleep(:s)::text"), {"s": 5.0}))
        await asyncio.sleep(0.3)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        # The only connection of the pool: had it gone back mid-statement, this would
        # fail with "another operation is in progress".
        for _ in range(3):
            row = await asyncio.wait_for(fetch_one_row(
                engine, OneRowStatement("SELECT :n::int + 1"), {"n": 41}), timeout=10)
            assert tuple(row) == (42,)
    finally:
        await engine.dispose()


async def test_rows_by_column_name_on_either_backend(empty_database_url):
    """fetch_rows: a look-up's rows, each read by column name, none when none match."""
    from hub.db.onerow import fetch_rows

    engine = create_engine(empty_database_url)
    statement = OneRowStatement(
        "SELECT * FROM (SELECT 1 AS n, 'a' AS t UNION ALL SELECT 2, 'b' UNION ALL "
        "SELECT 3, 'c') AS v WHERE n >= :least ORDER BY n")
    try:
        rows = await fetch_rows(engine, statement, {"least": 2})
        assert [(row["n"], row["t"], row.get("t")) for row in rows] == \
            [(2, "b", "b"), (3, "c", "c")]
        assert await fetch_rows(engine, statement, {"least": 9}) == []
    finally:
        await engine.dispose()
