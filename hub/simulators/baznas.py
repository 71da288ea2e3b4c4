"""Baznas SiMBA: mustahik (zakat recipients) with asnaf, programme and aid given,
behind an API key. NIKs are often missing or mistyped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from hub.simulators.base import AgencySimulator, Faults
from hub.simulators.sequence_api import page_after, read_paging


class BaznasSimulator(AgencySimulator):
    name = "baznas"

    def __init__(self, population: Path, faults: Faults | None = None,
                 api_key: str = "baznas-demo-key") -> None:
        super().__init__(population, faults)
        self.api_key = api_key
        self.mustahik = self.feed("baznas")

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/simba/api/v1/mustahik", self.page)]

    async def page(self, request: web.Request) -> web.Response:
        if request.headers.get("X-Api-Key") != self.api_key:
            return web.json_response({"success": False, "message": "Unauthorized"}, status=401)
        after, size = read_paging(request, since="after", limit="per_page")
        records, last, more = page_after(self, self.mustahik, after, size)
        return web.json_response({"success": True, "data": records,
                                  "meta": {"next_after": last, "has_more": more}})

    def append(self, source: str, record: dict[str, Any]) -> int:
        if source != "mustahik":
            raise KeyError(source)
        return self.mustahik.append(record)

    def break_record(self, record: dict[str, Any]) -> dict[str, Any]:
        return {**record, "jumlah_bantuan": "lima ratus ribu"}
