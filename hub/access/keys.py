"""API keys: `slrt_<key id>_<secret>`. The key id finds the client's row in one index
look-up; only a SHA-256 digest of the whole key is stored. Keys carry 256 random bits,
so a plain digest cannot be brute-forced and a slow password hash would only add
latency to every request."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

PREFIX = "slrt"


@dataclass(frozen=True, slots=True)
class IssuedKey:
    key: str  # shown once, never stored
    key_id: str
    digest: str


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def issue() -> IssuedKey:
    key_id = secrets.token_hex(6)
    key = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    return IssuedKey(key=key, key_id=key_id, digest=digest(key))


def key_id_of(key: str) -> str | None:
    """The key id, or None when the string is not shaped like one of our keys."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or len(parts[1]) != 12 or not parts[2]:
        return None
    return parts[1]


def matches(key: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(key), stored_digest)


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (scheme case-insensitive)."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
