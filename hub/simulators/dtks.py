"""DTKS (Kemensos / Dinsos): the poverty registry as SIKS-NG exposes it. Household rows
keyed IDBDT, individual rows keyed IDARTBDT, served after a sequence number (the
incremental "usulan" API), behind an API key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from hub.simulators.base import AgencySimulator, Faults, json_page
from hub.simulators.sequence_api import page_after, read_paging

FEEDS = {"households": "dtks_household", "individuals": "dtks_individual"}


class DtksSimulator(AgencySimulator):
    name = "dtks"

    def __init__(self, population: Path, faults: Faults | None = None,
                 api_key: str = "dtks-demo-key") -> None:
        super().__init__(population, faults)
        self.api_key = api_key
        self.feeds = {kind: self.feed(source) for kind, source in FEEDS.items()}

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/dtks/api/v1/{kind}", self.page)]

    async def page(self, request: web.Request) -> web.Response:
        if request.headers.get("X-API-Key") != self.api_key:
            return web.json_response({"status": "error", "message": "API key tidak valid"},
                                     status=401)
        feed = self.feeds.get(request.match_info["kind"])
        if feed is None:
            raise web.HTTPNotFound(text="unknown DTKS resource")
        after, size = read_paging(request)
        records, last, more = page_after(self, feed, after, size)
        return json_page(records, status="success", next_since=last, has_more=more)

    def append(self, source: str, record: dict[str, Any]) -> int:
        return self.feeds[source].append(record)

    def break_record(self, record: dict[str, Any]) -> dict[str, Any]:
        broken = dict(record)
        if "JnsKel" in broken:
            broken["JnsKel"] = "L/P"          # not the 1/2 code the schema allows
        else:
            broken["Desil"] = "sepuluh"
        return broken
