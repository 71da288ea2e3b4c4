"""OAuth2 client credentials for a connector (RFC 6749 §4.4): one token shared by the
connector's requests, fetched on first use and renewed once when the agency answers 401
(a token that expired mid-sync), so the page is retried rather than lost."""

from __future__ import annotations

import asyncio

from hub.connectors.http import AgencyClient, AuthError


class ClientCredentials:
    def __init__(self, name: str, token_path: str, client_id: str, client_secret: str) -> None:
        self.name = name
        self.token_path = token_path
        self.client_id = client_id
        self.client_secret = client_secret
        self._token: str | None = None
        self._lock = asyncio.Lock()

    async def bearer(self, client: AgencyClient) -> dict[str, str]:
        async with self._lock:
            if self._token is None:
                self._token = await self._fetch(client)
        return {"Authorization": f"Bearer {self._token}"}

    async def renew(self, client: AgencyClient) -> bool:
        async with self._lock:
            self._token = await self._fetch(client)
        return True

    async def _fetch(self, client: AgencyClient) -> str:
        response = await client.request(  # a refused client raises AuthError
            "POST", self.token_path, expect_json=True,
            data={"grant_type": "client_credentials", "client_id": self.client_id,
                  "client_secret": self.client_secret},
        )
        token = response.data.get("access_token") if isinstance(response.data, dict) else None
        if not token:
            raise AuthError(self.name, "token endpoint answered without an access_token")
        return str(token)
