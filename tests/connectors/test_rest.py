"""Declared streams: a new agency whose API pages in one of the usual ways is a
declaration. Each paginator and authenticator against a small agency served over real
HTTP on 127.0.0.1: every record exactly once, in order, and the position kept."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from pydantic import BaseModel

from hub.connectors.base import Page
from hub.connectors.http import AgencyClient, BadResponse, RetryPolicy
from hub.connectors.rest import (
    ApiKey,
    BodyCredentials,
    CursorFromBody,
    Offset,
    PageNumber,
    Paginator,
    RestConnector,
    RestStream,
)
from hub.ports import free_ports

ROWS = [{"id": f"r{n:03d}", "name": f"Warga {n}"} for n in range(23)]
KEY = "s3cret"


class Row(BaseModel):
    id: str
    name: str


async def _paged(request: web.Request) -> web.Response:
    """One agency, four ways of paging, and a key it insists on."""
    if request.headers.get("X-Api-Key") != KEY and request.method == "GET":
        return web.json_response({"error": "no key"}, status=401)
    kind = request.match_info["kind"]
    if request.method == "POST":
        body = await request.json()
        if body.get("user") != "desk" or body.get("password") != KEY:
            return web.json_response({"error": "bad credentials"}, status=401)
        since, limit = body["since"], body["limit"]
        assert isinstance(since, int)  # the feed takes a number
        page = ROWS[since:since + limit]
        return web.json_response({"content": page, "next": since + len(page),
                                  "more": since + len(page) < len(ROWS)})
    query = request.query
    if kind == "pages":
        page, size = int(query["page"]), int(query["size"])
        return web.json_response({"items": ROWS[(page - 1) * size:page * size]})
    if kind == "offsets":
        offset, limit = int(query["offset"]), int(query["limit"])
        return web.json_response({"results": {"rows": ROWS[offset:offset + limit]}})
    # An opaque cursor: the first request has none; the last answer names none.
    start = int(query.get("cursor", "0"))
    limit = int(query["limit"])
    end = start + limit
    return web.json_response({"rows": ROWS[start:end],
                              "next": str(end) if end < len(ROWS) else None,
                              "more": end < len(ROWS)})


@pytest.fixture
async def agency() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_route("*", "/api/{kind}", _paged)
    runner = web.AppRunner(app)
    await runner.setup()
    (port,) = free_ports(1)
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def _stream(path_: str, records: tuple[str, ...], paging: Paginator,
            verb: str = "GET") -> type[RestStream]:
    class Declared(RestStream):
        name = "rows"
        source = "test_agency"
        model = Row
        method = verb
        path = path_
        records_path = records
        paginator = paging

        def key(self, raw: dict[str, Any]) -> str | None:
            return raw.get("id")

        def normalize(self, record: BaseModel) -> dict[str, Any]:
            return record.model_dump()

    return Declared


async def _drain(connector: RestConnector, cursor: str | None = None) -> tuple[list[str], str]:
    stream = connector.streams[0]
    seen: list[str] = []
    async with AgencyClient("test", connector.base_url,
                            retry=RetryPolicy(attempts=1)) as client:
        while True:
            page: Page = await stream.fetch(client, cursor)
            seen += [row["id"] for row in page.records]
            assert page.cursor is not None
            cursor = page.cursor
            if not page.has_more:
                return seen, cursor


DECLARED = {
    "page number": ("/api/pages", ("items",), PageNumber()),
    "offset": ("/api/offsets", ("results", "rows"), Offset()),
    "opaque cursor": ("/api/cursor", ("rows",),
                      CursorFromBody("cursor", "limit", ("next",), ("more",), start=None)),
}


@pytest.mark.parametrize("how", DECLARED)
async def test_each_paginator_reads_every_record_once(agency: str, how: str) -> None:
    path, records, paging = DECLARED[how]

    class Agency(RestConnector):
        name = "test_agency"
        stream_types = (_stream(path, records, paging),)
        credentials = ("api_key",)

    connector = Agency(agency, ApiKey(KEY), page_size=5)
    seen, cursor = await _drain(connector)
    assert seen == [row["id"] for row in ROWS]
    # Asked again from where it stopped, the position is kept: at most the last page is
    # read again (where a page-number or cursor feed finds rows appended since; staging
    # skips the unchanged ones by hash), never the start.
    again, kept = await _drain(connector, cursor)
    assert len(again) <= 5
    assert again == seen[len(seen) - len(again):]
    assert kept == cursor


async def test_a_feed_with_credentials_in_the_body(agency: str) -> None:
    class Feed(RestConnector):
        name = "test_feed"
        stream_types = (_stream("/api/{channel}", ("content",),
                                CursorFromBody("since", "limit", ("next",), ("more",),
                                               numeric=True), verb="POST"),)

    connector = Feed(agency, BodyCredentials({"user": "desk", "password": KEY}),
                     page_size=7, path_params={"channel": "feed"})
    seen, cursor = await _drain(connector)
    assert seen == [row["id"] for row in ROWS]
    assert cursor == str(len(ROWS))


async def test_an_answer_without_its_records_says_what_is_missing(agency: str) -> None:
    class Wrong(RestConnector):
        name = "test_wrong"
        stream_types = (_stream("/api/pages", ("data",), PageNumber()),)

    with pytest.raises(BadResponse, match="no data"):
        await _drain(Wrong(agency, ApiKey(KEY), page_size=5))


def test_paginators_are_pure() -> None:
    assert PageNumber().request(None, 10) == {"page": 1, "size": 10}
    assert PageNumber().following("3", {}, [{}] * 10, 10) == ("4", True)
    assert PageNumber().following("3", {}, [{}] * 4, 10) == ("3", False)
    assert Offset().request("20", 10) == {"offset": 20, "limit": 10}
    assert Offset().following("20", {}, [{}] * 3, 10) == ("23", False)
    since = CursorFromBody("since", "limit", ("meta", "next"), ("meta", "more"))
    assert since.request(None, 5) == {"since": "0", "limit": 5}
    assert since.following("9", {"meta": {"next": 12, "more": True}}, [], 5) == ("12", True)
    assert since.following("9", {"meta": {"next": None, "more": False}}, [], 5) == ("9", False)
    with pytest.raises(KeyError):
        since.following("9", {"meta": {}}, [], 5)
