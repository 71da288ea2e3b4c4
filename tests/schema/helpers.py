"""Talks to the real ASGI app in-process (httpx's ASGI transport: our endpoint, our
schema, our database; only the socket is skipped — tests/test_live_server.py covers it)."""

from __future__ import annotations

from typing import Any

import httpx

from hub.app import create_app

GRAPHQL_RESPONSE = "application/graphql-response+json"


class GraphQLClient:
    def __init__(self, app: Any) -> None:
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://hub.test"
        )

    async def post(self, query: str, variables: dict | None = None,
                   accept: str = GRAPHQL_RESPONSE) -> httpx.Response:
        return await self.http.post(
            "/graphql", json={"query": query, "variables": variables},
            headers={"accept": accept},
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


def make_client(settings, engine) -> GraphQLClient:
    return GraphQLClient(create_app(settings, engine=engine))
