"""Education office (Dapodik): pupils as `getPesertaDidik` returns them, paged with an
opaque cursor, behind a Bearer token from OAuth2 client credentials."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path
from typing import Any

from aiohttp import web

from hub.simulators.base import AgencySimulator, Faults
from hub.simulators.sequence_api import MAX_LIMIT, page_after


def encode_cursor(sequence: int) -> str:
    return base64.urlsafe_b64encode(f"pd:{sequence}".encode()).decode()


def decode_cursor(cursor: str) -> int:
    try:
        prefix, _, number = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if prefix != "pd":
            raise ValueError(cursor)
        return int(number)
    except (ValueError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text="invalid cursor") from None


class EducationSimulator(AgencySimulator):
    name = "education"

    def __init__(self, population: Path, faults: Faults | None = None,
                 client_id: str = "dinsos", client_secret: str = "rahasia") -> None:
        super().__init__(population, faults)
        self.client = (client_id, client_secret)
        self.pupils = self.feed("education")
        self.tokens: dict[str, int] = {}  # token → uses left (-1: unlimited)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/oauth/token", self.token),
            web.get("/dapodik/api/getPesertaDidik", self.pupils_page),
        ]

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        if (form.get("client_id"), form.get("client_secret")) != self.client:
            return web.json_response({"error": "invalid_client"}, status=401)
        token = secrets.token_urlsafe(24)
        self.tokens[token] = self.faults.token_ttl_requests or -1
        return web.json_response({"access_token": token, "token_type": "Bearer",
                                  "expires_in": 3600})

    async def pupils_page(self, request: web.Request) -> web.Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        uses = self.tokens.get(token)
        if not uses:
            return web.json_response({"error": "invalid_token"}, status=401)
        if uses > 0:
            self.tokens[token] = uses - 1
        cursor = request.query.get("cursor")
        after = decode_cursor(cursor) if cursor else 0
        try:
            size = min(MAX_LIMIT, max(1, int(request.query.get("limit", "500"))))
        except ValueError:
            raise web.HTTPBadRequest(text="limit must be an integer") from None
        records, last, more = page_after(self, self.pupils, after, size)
        return web.json_response({"rows": records, "next_cursor": encode_cursor(last),
                                  "has_more": more})

    def append(self, source: str, record: dict[str, Any]) -> int:
        if source != "pupils":
            raise KeyError(source)
        return self.pupils.append(record)

    def break_record(self, record: dict[str, Any]) -> dict[str, Any]:
        return {**record, "tingkat_pendidikan_id": "kelas empat"}
