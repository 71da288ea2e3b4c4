"""The paging every simulated agency API uses: records after a sequence number."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hub.simulators.feed import RecordFeed

MAX_LIMIT = 5000


def read_paging(request: web.Request, since: str = "since", limit: str = "limit"
                ) -> tuple[int, int]:
    try:
        after = int(request.query.get(since, "0") or 0)
        size = int(request.query.get(limit, "500"))
    except ValueError:
        raise web.HTTPBadRequest(text=f"{since} and {limit} must be integers") from None
    if after < 0 or not 1 <= size <= MAX_LIMIT:
        raise web.HTTPBadRequest(text=f"{since} >= 0 and 1 <= {limit} <= {MAX_LIMIT}")
    return after, size


def page_after(simulator: Any, feed: RecordFeed, after: int, size: int
               ) -> tuple[list[dict[str, Any]], int, bool]:
    """Records after `after`, each possibly broken by the fault settings; the last
    sequence served; whether more remain."""
    rows = feed.after(after, size)
    records = [simulator.maybe_broken(seq, record) for seq, record in rows]
    last = rows[-1][0] if rows else after
    return records, last, last < feed.last_sequence
