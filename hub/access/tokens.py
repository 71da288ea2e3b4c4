"""JSON Web Tokens signed with Ed25519 (JWS `EdDSA`, RFC 8037), pure.

The hub issues them at the OAuth2 client-credentials endpoint to its own API clients
(DCI partners expect bearer tokens, not static keys) and publishes the public keys as
a JWK set. A key's `kid` is its RFC 7638 thumbprint, so anyone can recompute it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)


class InvalidToken(ValueError):
    """A token the hub does not accept; the message says why."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def thumbprint(public: Ed25519PublicKey) -> str:
    """RFC 7638: SHA-256 of the key's required members, in lexical order, no spaces."""
    members = {"crv": "Ed25519", "kty": "OKP", "x": b64url(_raw(public))}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return b64url(hashlib.sha256(canonical).digest())


def jwk(public: Ed25519PublicKey) -> dict[str, str]:
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url(_raw(public)),
            "kid": thumbprint(public), "use": "sig", "alg": "EdDSA"}


def public_from_jwk(key: dict[str, Any]) -> Ed25519PublicKey:
    if key.get("kty") != "OKP" or key.get("crv") != "Ed25519":
        raise InvalidToken("only Ed25519 (OKP) keys are supported")
    return Ed25519PublicKey.from_public_bytes(unb64url(key["x"]))


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey

    @property
    def kid(self) -> str:
        return thumbprint(self.private.public_key())

    def pem(self) -> str:
        return self.private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()).decode()

    @classmethod
    def from_pem(cls, pem: str) -> SigningKey:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the signing key is not an Ed25519 key")
        return cls(key)

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())


def sign(key: SigningKey, claims: dict[str, Any]) -> str:
    header = {"alg": "EdDSA", "typ": "JWT", "kid": key.kid}
    signing_input = ".".join(b64url(json.dumps(part, separators=(",", ":")).encode())
                             for part in (header, claims))
    return f"{signing_input}.{b64url(key.private.sign(signing_input.encode()))}"


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


def verify(token: str, keys: dict[str, Ed25519PublicKey], now: float,
           issuer: str, leeway: float = 30) -> dict[str, Any]:
    """The claims of a valid token; InvalidToken with the reason otherwise."""
    try:
        head_b64, claims_b64, signature_b64 = token.split(".")
        header = json.loads(unb64url(head_b64))
        claims = json.loads(unb64url(claims_b64))
        signature = unb64url(signature_b64)
    except (ValueError, TypeError):
        raise InvalidToken("the token is not a JWT (header.claims.signature)") from None
    if not isinstance(header, dict) or header.get("alg") != "EdDSA":
        raise InvalidToken("only EdDSA-signed tokens are accepted")
    public = keys.get(str(header.get("kid")))
    if public is None:
        raise InvalidToken("the token is signed with a key this hub does not know")
    try:
        public.verify(signature, f"{head_b64}.{claims_b64}".encode())
    except InvalidSignature:
        raise InvalidToken("the token's signature does not verify") from None
    if not isinstance(claims, dict) or claims.get("iss") != issuer:
        raise InvalidToken("the token was not issued by this hub")
    expires = claims.get("exp")
    if not isinstance(expires, int | float) or expires + leeway < now:
        raise InvalidToken("the token has expired")
    return claims
