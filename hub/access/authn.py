"""Who is calling: an API key, or a token the hub issued for one (OAuth2 client
credentials). Both end in the same Principal, so every rule after this is the same."""

from __future__ import annotations

import time
from typing import Any

from hub.access import keys
from hub.access.clients import ClientStore
from hub.access.keystore import KeyStore
from hub.access.roles import Principal
from hub.crypto import jose


class AuthenticationFailed(Exception):
    """A credential the hub refuses; answered with 401 and the reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Authenticator:
    def __init__(self, clients: ClientStore, keystore: KeyStore, issuer: str,
                 audience: str) -> None:
        self.clients = clients
        self.keystore = keystore
        self.issuer = issuer
        self.audience = audience

    async def authenticate(self, token: str) -> Principal:
        if not jose.looks_like_jwt(token):
            principal = await self.clients.authenticate(token)
            if principal is None:
                raise AuthenticationFailed("the API key is not valid (unknown, rotated or "
                                           "revoked)")
            return principal
        claims = await self._claims(token)
        # `kv` is the key the token was traded for: rotating the key ends its tokens.
        principal = await self.clients.by_token(claims["cid"], claims["kv"])
        if principal is None:
            raise AuthenticationFailed("the token's client has been revoked, or its key "
                                       "rotated since the token was issued")
        return principal

    async def _claims(self, token: str) -> dict[str, Any]:
        known = await self.keystore.public_keys()
        try:
            return jose.verify(token, known, self.issuer, self.audience)
        except jose.InvalidToken as error:
            if "does not know" in str(error):  # a key made by another replica since
                try:
                    return jose.verify(token, await self.keystore.public_keys(True),
                                         self.issuer, self.audience)
                except jose.InvalidToken as again:
                    raise AuthenticationFailed(str(again)) from None
            raise AuthenticationFailed(str(error)) from None

    async def issue(self, client_id: str, secret: str, ttl: int) -> tuple[str, int]:
        """An access token for a client that proves itself with its API key."""
        key_id = keys.key_id_of(secret)
        principal = await self.clients.authenticate(secret) if key_id else None
        if principal is None or principal.name != client_id:
            raise AuthenticationFailed("invalid_client")
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.audience, "sub": principal.name,
                  "cid": principal.client_id, "kv": key_id, "role": principal.role.value,
                  "regions": list(principal.regions), "iat": now, "nbf": now,
                  "exp": now + ttl}
        return jose.sign(await self.keystore.current(), claims), ttl
