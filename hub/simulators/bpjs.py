"""BPJS Kesehatan VClaim: participants (KIS / JKN membership) by NIK and a membership
change feed, with VClaim's signed headers and encrypted, compressed answers. A bad
signature or a timestamp more than five minutes off is refused as the real service does:
HTTP 200 with a `metaData` code that says so."""

from __future__ import annotations

import hmac
import json
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from hub.codecs import vclaim
from hub.simulators.base import AgencySimulator, Faults
from hub.simulators.sequence_api import MAX_LIMIT, page_after


class BpjsSimulator(AgencySimulator):
    name = "bpjs"

    def __init__(self, population: Path, faults: Faults | None = None,
                 cons_id: str = "1234", secret: str = "bpjs-secret",
                 user_key: str = "user-key") -> None:
        super().__init__(population, faults)
        self.cons_id, self.secret, self.user_key = cons_id, secret, user_key
        self.members = self.feed("bpjs")
        self.by_nik: dict[str, int] = {r["nik"]: seq for seq, r in self.members.records()}

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/vclaim-rest/Peserta/nik/{nik}/tglSEP/{date}", self.by_nik_route),
            web.get("/vclaim-rest/Peserta/feed/{since}/{limit}", self.feed_route),
        ]

    def _refusal(self, request: web.Request) -> str | None:
        headers = request.headers
        if headers.get("X-cons-id") != self.cons_id or headers.get("user_key") != self.user_key:
            return "Consumer ID atau user key tidak terdaftar"
        stamp = headers.get("X-timestamp", "")
        try:
            skew = abs(time.time() - int(stamp))
        except ValueError:
            return "Timestamp tidak valid"
        if skew > vclaim.MAX_CLOCK_SKEW_S:
            return "Timestamp kedaluwarsa"
        expected = vclaim.signature(self.cons_id, self.secret, stamp)
        if not hmac.compare_digest(expected, headers.get("X-signature", "")):
            return "Signature tidak valid"
        return None

    def _answer(self, request: web.Request, payload: Any, code: str = "200",
                message: str = "OK") -> web.Response:
        stamp = request.headers["X-timestamp"]
        body = None if payload is None else vclaim.encrypt(
            json.dumps(payload, ensure_ascii=False), self.cons_id, self.secret, stamp
        )
        return web.json_response({"metaData": {"code": code, "message": message},
                                  "response": body})

    async def by_nik_route(self, request: web.Request) -> web.Response:
        if (refusal := self._refusal(request)) is not None:
            return web.json_response({"metaData": {"code": "401", "message": refusal},
                                      "response": None})
        sequence = self.by_nik.get(request.match_info["nik"])
        if sequence is None:
            return self._answer(request, None, "201", "Peserta tidak ditemukan")
        member = self.members.after(sequence - 1, 1)[0][1]
        return self._answer(request, {"peserta": member})

    async def feed_route(self, request: web.Request) -> web.Response:
        if (refusal := self._refusal(request)) is not None:
            return web.json_response({"metaData": {"code": "401", "message": refusal},
                                      "response": None})
        try:
            after = int(request.match_info["since"])
            size = min(MAX_LIMIT, max(1, int(request.match_info["limit"])))
        except ValueError:
            raise web.HTTPBadRequest(text="since and limit must be integers") from None
        records, last, more = page_after(self, self.members, after, size)
        return self._answer(request, {"list": records, "next_since": last, "has_more": more})

    def append(self, source: str, record: dict[str, Any]) -> int:
        if source != "members":
            raise KeyError(source)
        sequence = self.members.append(record)
        self.by_nik[record["nik"]] = sequence
        return sequence

    def break_record(self, record: dict[str, Any]) -> dict[str, Any]:
        return {**record, "statusPeserta": "AKTIF"}  # an object in the real schema
