"""An officer at the console, in-process: httpx over the real app and database, with
cookies kept like a browser keeps them, and each form's CSRF token read off the page."""

from __future__ import annotations

import itertools
import re
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.access.clients import ClientStore
from hub.access.officers import DeskKind, OfficerStore
from hub.access.roles import Role

PASSWORD = "kata-sandi-rahasia-123"
ORIGIN = "http://hub.test"
_names = itertools.count()


class Officer:
    def __init__(self, app: Any, username: str) -> None:
        self.username = username
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                      base_url=ORIGIN, follow_redirects=False)
        self.csrf: str | None = None

    async def sign_in(self, password: str = PASSWORD) -> httpx.Response:
        form = await self.http.get("/console/login")
        token = re.search(r'name="login_token" value="([^"]+)"', form.text).group(1)
        answer = await self.http.post("/console/login", data={
            "login_token": token, "username": self.username, "password": password},
            headers={"origin": ORIGIN})
        if answer.status_code == 303:
            page = await self.get(answer.headers["location"])
            self.csrf = csrf_of(page.text)
        return answer

    async def get(self, path: str, **params: str) -> httpx.Response:
        return await self.http.get(path, params=params or None)

    async def post(self, path: str, data: dict[str, str], *, csrf: str | None = None,
                   origin: str | None = ORIGIN) -> httpx.Response:
        token = self.csrf if csrf is None else csrf
        headers = {"origin": origin} if origin else {}
        return await self.http.post(path, data={"csrf": token or "", **data}, headers=headers)

    async def aclose(self) -> None:
        await self.http.aclose()


def csrf_of(html: str) -> str | None:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    return found.group(1) if found else None


async def officer_for(app: Any, engine: AsyncEngine, desk: DeskKind, role: Role,
                      regions: tuple[str, ...] = (), agency: str | None = None,
                      *, sign_in: bool = True) -> Officer:
    """A new client of the role and an officer of the desk working for it."""
    n = next(_names)
    client = f"console-{role.value.lower()}-{n}-{id(engine)}"
    clients = ClientStore(engine)
    await clients.create(client, role, regions=regions, agency=agency,
                         legal_basis="Permensos 15/2018 (SLRT)", purpose="tests")
    username = f"{desk.value.lower()}-{n}-{id(engine)}"
    await OfficerStore(engine, clients).create(username, f"Petugas {desk.value} {n}", client,
                                               desk, PASSWORD)
    officer = Officer(app, username)
    if sign_in:
        answer = await officer.sign_in()
        assert answer.status_code == 303, answer.text
    return officer
