"""JSON Web Tokens signed with Ed25519 (JWS `EdDSA`, RFC 8037), pure: PyJWT encodes and
checks them; this module pins the algorithm, the keys and the claims we require.

The hub issues them at the OAuth2 client-credentials endpoint to its own API clients
(DCI partners expect bearer tokens, not static keys) and publishes the public keys as
a JWK set. A key's `kid` is its RFC 7638 thumbprint, so anyone can recompute it.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import jwt
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

    @functools.cached_property
    def kid(self) -> str:
        """Computed once per key: every signed answer names it."""
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


# Claims every token of ours carries; one without any of them is refused.
REQUIRED_CLAIMS = ("iss", "aud", "sub", "iat", "nbf", "exp", "cid", "kv")


def sign(key: SigningKey, claims: dict[str, Any]) -> str:
    return jwt.encode(claims, key.private, algorithm="EdDSA",
                      headers={"kid": key.kid, "typ": "JWT"})


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


def verify(token: str, keys: dict[str, Ed25519PublicKey], issuer: str, audience: str,
           leeway: float = 30) -> dict[str, Any]:
    """The claims of a valid token; InvalidToken with the reason otherwise. PyJWT checks
    the signature and every registered claim (exp, nbf, iat not in the future, iss, aud);
    the algorithm is pinned to EdDSA, so no `alg` the sender picks is trusted."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError:
        raise InvalidToken("the token is not a JWT (header.claims.signature)") from None
    if header.get("alg") != "EdDSA":
        raise InvalidToken("only EdDSA-signed tokens are accepted")
    public = keys.get(str(header.get("kid")))
    if public is None:
        raise InvalidToken("the token is signed with a key this hub does not know")
    try:
        claims = jwt.decode(token, public, algorithms=["EdDSA"], issuer=issuer,
                            audience=audience, leeway=leeway,
                            options={"require": list(REQUIRED_CLAIMS)})
    except jwt.InvalidSignatureError:
        raise InvalidToken("the token's signature does not verify") from None
    except jwt.ExpiredSignatureError:
        raise InvalidToken("the token has expired") from None
    except jwt.ImmatureSignatureError:
        raise InvalidToken("the token is not valid yet (nbf or iat in the future)") from None
    except jwt.InvalidIssuerError:
        raise InvalidToken("the token was not issued by this hub") from None
    except jwt.InvalidAudienceError:
        raise InvalidToken("the token is not meant for this API (aud)") from None
    except jwt.MissingRequiredClaimError as error:
        raise InvalidToken(f"the token lacks the {error.claim!r} claim") from None
    except jwt.PyJWTError as error:
        raise InvalidToken(f"the token is not valid: {error}") from None
    if type(claims.get("cid")) is not int or not isinstance(claims.get("kv"), str):
        raise InvalidToken("the token does not name a client of this hub")
    return claims
