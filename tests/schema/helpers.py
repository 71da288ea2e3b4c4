"""Talks to the real ASGI app in-process (httpx's ASGI transport: our endpoint, our
schema, our database; only the socket is skipped — tests/test_live_server.py covers it)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.access.clients import ClientStore
from hub.access.roles import Role
from hub.app import create_app

GRAPHQL_RESPONSE = "application/graphql-response+json"


class GraphQLClient:
    def __init__(self, app: Any, key: str | None = None) -> None:
        self.app = app
        self.key = key
        self.name: str | None = None
        headers = {"authorization": f"Bearer {key}"} if key else {}
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://hub.test",
            headers=headers,
        )

    async def post(self, query: str, variables: dict | None = None,
                   accept: str = GRAPHQL_RESPONSE, **headers: str) -> httpx.Response:
        return await self.http.post(
            "/graphql", json={"query": query, "variables": variables},
            headers={"accept": accept, **headers},
        )

    async def data(self, query: str, **variables: Any) -> dict[str, Any]:
        response = await self.post(query, variables or None)
        body = response.json()
        assert response.status_code == 200, body
        assert "errors" not in body, body["errors"]
        return body["data"]

    async def errors(self, query: str, **variables: Any) -> list[dict[str, Any]]:
        body = (await self.post(query, variables or None)).json()
        assert body.get("errors"), body
        return body["errors"]

    async def aclose(self) -> None:
        await self.http.aclose()


_names = itertools.count()


async def register(engine: AsyncEngine, role: Role = Role.NATIONAL,
                   regions: Sequence[str] = (), agency: str | None = None,
                   **options: Any) -> tuple[str, str]:
    """A registered client of the role (fresh name each time): its name and key."""
    name = f"test-{role.value.lower()}-{next(_names)}-{id(engine)}"
    _, key = await ClientStore(engine).create(
        name, role, regions=regions, agency=agency,
        legal_basis="Permensos 15/2018 (SLRT)", purpose="tests", **options)
    return name, key


async def make_client(settings, engine, role: Role = Role.NATIONAL,
                      regions: Sequence[str] = (), agency: str | None = None,
                      app: Any = None) -> GraphQLClient:
    """A client of the role talking to the app (a new app unless one is given)."""
    name, key = await register(engine, role, regions, agency)
    client = GraphQLClient(app or create_app(settings, engine=engine), key)
    client.name = name
    return client
