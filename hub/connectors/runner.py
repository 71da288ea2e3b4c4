"""Runs one stream of one connector: fetch a page, stage it, move the cursor, repeat.

Each page is committed in one transaction with the cursor that follows it and the run's
counts, so a crash at any point leaves staging and cursor consistent, and the next run
resumes after the last committed page: nothing lost, nothing staged twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.connectors.base import Connector, Page, Stream
from hub.connectors.http import AgencyClient
from hub.connectors.staging import StageCounts, stage_page
from hub.db.models import StreamState, SyncRun
from hub.db.statistics import PlannerStatistics


@dataclass
class StreamResult:
    connector: str
    stream: str
    run_id: int
    status: str              # SUCCEEDED or FAILED
    counts: StageCounts
    cursor_before: str | None
    cursor_after: str | None
    error: str | None = None


async def saved_cursor(engine: AsyncEngine, connector: str, stream: str) -> str | None:
    async with engine.connect() as connection:
        return (
            await connection.execute(
                select(StreamState.cursor).where(
                    StreamState.connector == connector, StreamState.stream == stream
                )
            )
        ).scalar_one_or_none()


async def _save_cursor(
    connection: AsyncConnection, connector: str, stream: str, cursor: str | None
) -> None:
    changed = await connection.execute(
        update(StreamState)
        .where(StreamState.connector == connector, StreamState.stream == stream)
        .values(cursor=cursor)
    )
    if changed.rowcount == 0:
        await connection.execute(
            insert(StreamState).values(connector=connector, stream=stream, cursor=cursor)
        )


async def sync_stream(
    engine: AsyncEngine,
    connector: Connector,
    stream: Stream,
    client: AgencyClient,
    *,
    full: bool = False,
    max_pages: int | None = None,
    on_page: Callable[[StageCounts], None] | None = None,
) -> StreamResult:
    """Sync one stream from its saved cursor (or from the start with `full`).

    `max_pages` stops early, as a crash would, leaving the cursor where the last page
    ended; tests use it to interrupt a sync half way.
    """
    before = None if full else await saved_cursor(engine, connector.name, stream.name)
    async with engine.begin() as connection:
        run_id = (
            await connection.execute(
                insert(SyncRun)
                .values(connector=connector.name, stream=stream.name, status="RUNNING",
                        cursor_before=before, cursor_after=before, counts={})
                .returning(SyncRun.id)
            )
        ).scalar_one()
    counts = StageCounts()
    cursor = before
    pages = 0
    statistics = PlannerStatistics()
    # The next page is fetched while this one is staged: the agency's time and ours
    # overlap. A page is only ever staged after the one before it committed, so a
    # crash still resumes from the last committed cursor.
    pending: asyncio.Task[Page] | None = asyncio.create_task(stream.fetch(client, cursor))
    try:
        while pending is not None:
            page = await pending
            pages += 1
            last_page = not page.has_more or (max_pages is not None and pages >= max_pages)
            pending = None if last_page else asyncio.create_task(
                stream.fetch(client, page.cursor)
            )
            async with engine.begin() as connection:
                page_counts = await stage_page(connection, stream, page.records)
                counts.add(page_counts)
                cursor = page.cursor
                await _save_cursor(connection, connector.name, stream.name, cursor)
                await connection.execute(
                    update(SyncRun).where(SyncRun.id == run_id)
                    .values(cursor_after=cursor, counts=counts.as_dict())
                )
                await statistics.wrote(connection, "source_record", page_counts.new)
            if on_page:
                on_page(page_counts)
    except Exception as exc:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pending
        error = f"{type(exc).__name__}: {exc}"
        async with engine.begin() as connection:
            await connection.execute(
                update(SyncRun).where(SyncRun.id == run_id).values(
                    status="FAILED", error=error + "\n" + traceback.format_exc(limit=5),
                    finished_at=func.now(),
                )
            )
        return StreamResult(connector.name, stream.name, run_id, "FAILED", counts, before,
                            cursor, error)
    async with engine.begin() as connection:
        await connection.execute(
            update(SyncRun).where(SyncRun.id == run_id)
            .values(status="SUCCEEDED", finished_at=func.now())
        )
    return StreamResult(connector.name, stream.name, run_id, "SUCCEEDED", counts, before,
                        cursor)


async def sync_connector(
    engine: AsyncEngine, connector: Connector, *, full: bool = False,
    streams: list[str] | None = None,
    on_page: Callable[[StageCounts], None] | None = None,
) -> list[StreamResult]:
    """Every stream of a connector (or the named ones), on one shared HTTP session."""
    results = []
    async with connector.client() as client:
        for stream in connector.streams:
            if streams and stream.name not in streams:
                continue
            results.append(await sync_stream(engine, connector, stream, client, full=full,
                                             on_page=on_page))
    return results
