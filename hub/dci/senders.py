"""The sender registry: which systems may send the hub DCI messages under which
sender id, the keys their signatures verify with, and where their callbacks may go.

A sender is onboarded in `[dci.senders."<sender_id>"]`. Its keys are listed there or
read from its JWK set (`jwks_url`, cached; re-read once when an unknown kid arrives, so
a partner's key rotation needs no restart).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hub.access.roles import Principal
from hub.config import DciSenderSettings, DciSettings
from hub.crypto import signatures
from hub.crypto.jose import InvalidToken, public_from_jwk, unb64url
from hub.dci.envelope import Header

log = logging.getLogger("hub.dci")
JWKS_CACHE_SECONDS = 300.0


class SenderRefused(Exception):
    """The sender may not send this message: `code` is a DCI error code, `status` the
    HTTP status to answer with."""

    def __init__(self, code: str, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass
class _Fetched:
    keys: dict[str, Ed25519PublicKey]
    at: float


def host_of(url: str) -> str:
    """`host:port` of a URL, the port made explicit, for comparing with the registry."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"


class SenderRegistry:
    def __init__(self, settings: DciSettings) -> None:
        self.settings = settings
        self._jwks: dict[str, _Fetched] = {}

    def entry(self, sender_id: Any) -> DciSenderSettings | None:
        """The registered sender; None for an unknown one, or for an id that is not even
        a string (a header is read before it is checked)."""
        return self.settings.senders.get(sender_id) if isinstance(sender_id, str) else None

    def tolerates(self, sender_id: Any, drift: str) -> bool:
        entry = self.entry(sender_id)
        return drift in self.settings.tolerate or bool(entry and drift in entry.tolerate)

    def callback_allowed(self, sender_id: str, url: str | None) -> bool:
        entry = self.entry(sender_id)
        return bool(entry and url and host_of(url) in entry.callback_hosts)

    async def admit(self, principal: Principal, header: Header, raw_header: Any,
                    message: Any, signature: Any) -> str | None:
        """Check the sender and the message's signature; returns the kid that signed,
        or None for an unsigned message this sender may send."""
        entry = self.entry(header.sender_id)
        if entry is None:
            if signature:
                raise SenderRefused("err.signature.invalid", f"sender {header.sender_id!r} "
                                    "is not registered, so its signature cannot be verified")
            if self.settings.require_signature or not self.settings.allow_unregistered:
                raise SenderRefused("err.sender_id.invalid", f"sender {header.sender_id!r} "
                                    "is not registered with this hub", 403)
            return None
        if entry.clients and principal.name not in entry.clients:
            raise SenderRefused("err.sender_id.invalid", f"this client may not send as "
                                f"{header.sender_id!r}", 403)
        return await self.verify(header, raw_header, message, signature, entry)

    async def verify(self, header: Header, raw_header: Any, message: Any, signature: Any,
                     entry: DciSenderSettings) -> str | None:
        """The kid that signed the message, None for an unsigned one the sender may
        send, or `SenderRefused`."""
        required = self.settings.require_signature if entry.require_signature is None \
            else entry.require_signature
        if not signature and not required:
            return None
        keys = await self._keys(header.sender_id, entry)

        def lookup(sender: str, kid: str) -> Ed25519PublicKey | None:
            return keys.get(kid) if sender == header.sender_id else None

        try:
            return signatures.verify(signature, raw_header, message, header.sender_id,
                                     lookup, int(time.time()))
        except signatures.SignatureProblem as problem:
            if problem.code == "err.signature.invalid" and entry.jwks_url and \
                    "no registered key" in problem.message:
                keys.update(await self._fetch(header.sender_id, entry.jwks_url, force=True))
                try:
                    return signatures.verify(signature, raw_header, message,
                                             header.sender_id, lookup, int(time.time()))
                except signatures.SignatureProblem as again:
                    problem = again
            raise SenderRefused(problem.code, problem.message) from None

    async def _keys(self, sender_id: str, entry: DciSenderSettings
                    ) -> dict[str, Ed25519PublicKey]:
        keys: dict[str, Ed25519PublicKey] = {}
        for kid, x in entry.public_keys.items():
            try:
                keys[kid] = Ed25519PublicKey.from_public_bytes(unb64url(x))
            except ValueError:
                log.error("sender %s: public key %s is not a raw Ed25519 key", sender_id, kid)
        if entry.jwks_url:
            keys |= await self._fetch(sender_id, entry.jwks_url)
        return keys

    async def _fetch(self, sender_id: str, url: str, force: bool = False
                     ) -> dict[str, Ed25519PublicKey]:
        cached = self._jwks.get(sender_id)
        if cached and not force and time.monotonic() - cached.at < JWKS_CACHE_SECONDS:
            return cached.keys
        try:
            timeout = aiohttp.ClientTimeout(total=self.settings.callback_timeout_seconds)
            async with aiohttp.ClientSession(timeout=timeout) as session, \
                    session.get(url) as response:
                response.raise_for_status()
                document = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as failed:
            log.warning("sender %s: its JWK set at %s could not be read: %s", sender_id, url,
                        failed)
            return cached.keys if cached else {}
        keys: dict[str, Ed25519PublicKey] = {}
        for key in document.get("keys", []) if isinstance(document, dict) else []:
            try:
                keys[str(key["kid"])] = public_from_jwk(key)
            except (InvalidToken, KeyError, ValueError, TypeError):
                continue  # a key of another type: not for us
        self._jwks[sender_id] = _Fetched(keys, time.monotonic())
        return keys
