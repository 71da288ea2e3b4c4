"""DCI message signatures, pure: the `signature` field of every message, over its
`header` and `message`, in either of two schemes.

* **Header form** (the DCI spec's `MsgSignature`, after Beckn's HTTP signatures):
  `Signature: namespace="dci", kidId="{sender_id}|{kid}|ed25519", algorithm="ed25519",
  created="…", expires="…", headers="(created) (expires) digest", signature="…"`, where
  the signed text is `(created): C\\n(expires): E\\ndigest: BLAKE-512=D` and D is the
  base64 BLAKE2b-512 of the canonical JSON of `{"header": …, "message": …}`.
* **JWS** (RFC 7515 compact, detached payload, RFC 7797 style): `<protected>..<sig>` with
  `{"alg": "EdDSA", "kid": …}`, over the same canonical JSON. A JWS with the payload
  attached is accepted when the payload is that same JSON.

Canonical JSON is orjson with sorted keys and no spaces: both sides must serialise the
same object to the same bytes, and the signature travels inside the body it signs, so
it cannot be over the raw bytes. Schemes are tried by shape, so a new one is one more
entry in `SCHEMES`.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from hub.crypto.jose import b64url, unb64url
from hub.errors import Refusal

DEFAULT_TTL_SECONDS = 300
CLOCK_SKEW_SECONDS = 60
# (sender id, kid) -> that sender's public key, or None when the registry has none.
KeyLookup = Callable[[str, str], Ed25519PublicKey | None]


class SignatureProblem(Refusal):
    """A signature the hub does not accept: `code` is the DCI error code
    (`err.signature.missing`, `err.signature.invalid`), `message` says why."""


@dataclass(frozen=True, slots=True)
class Signer:
    """Who signs: the sender id the receiver knows us by, our key and its kid."""

    sender_id: str
    kid: str
    key: Ed25519PrivateKey


def canonical(header: Any, message: Any) -> bytes:
    return orjson.dumps({"header": header, "message": message}, option=orjson.OPT_SORT_KEYS)


def digest(header: Any, message: Any) -> str:
    return base64.b64encode(hashlib.blake2b(canonical(header, message),
                                            digest_size=64).digest()).decode()


class Scheme(Protocol):
    name: str

    def recognises(self, signature: str) -> bool: ...

    def sign(self, signer: Signer, header: Any, message: Any, now: int) -> str: ...

    def verify(self, signature: str, header: Any, message: Any, sender_id: str,
               keys: KeyLookup, now: int) -> str: ...


def _key(keys: KeyLookup, sender_id: str, kid: str) -> Ed25519PublicKey:
    public = keys(sender_id, kid)
    if public is None:
        raise SignatureProblem("err.signature.invalid", f"sender {sender_id!r} has no "
                               f"registered key {kid!r}")
    return public


def _check(public: Ed25519PublicKey, signature: bytes, signed: bytes) -> None:
    try:
        public.verify(signature, signed)
    except InvalidSignature:
        raise SignatureProblem("err.signature.invalid", "the signature does not match the "
                               "header and message (altered, or signed with another key)"
                               ) from None


_PARAM = re.compile(r'([A-Za-z]+)="([^"]*)"')


class HeaderForm:
    name = "header"

    def recognises(self, signature: str) -> bool:
        return signature.lstrip().startswith("Signature")

    @staticmethod
    def _signed_text(created: str, expires: str, body_digest: str) -> bytes:
        return (f"(created): {created}\n(expires): {expires}\n"
                f"digest: BLAKE-512={body_digest}").encode()

    def sign(self, signer: Signer, header: Any, message: Any, now: int) -> str:
        created, expires = str(now), str(now + DEFAULT_TTL_SECONDS)
        signed = self._signed_text(created, expires, digest(header, message))
        value = base64.b64encode(signer.key.sign(signed)).decode()
        return (f'Signature: namespace="dci", kidId="{signer.sender_id}|{signer.kid}|ed25519", '
                f'algorithm="ed25519", created="{created}", expires="{expires}", '
                f'headers="(created) (expires) digest", signature="{value}"')

    def verify(self, signature: str, header: Any, message: Any, sender_id: str,
               keys: KeyLookup, now: int) -> str:
        params = dict(_PARAM.findall(signature))
        key_id = params.get("kidId") or params.get("keyId") or ""
        parts = key_id.split("|")
        if len(parts) != 3 or not all(parts):
            raise SignatureProblem("err.signature.invalid", 'the signature needs kidId='
                                   '"{sender_id}|{key id}|ed25519"')
        signer, kid, algorithm = parts
        if signer != sender_id:
            raise SignatureProblem("err.signature.invalid", f"the signature is by {signer!r}, "
                                   f"the header's sender is {sender_id!r}")
        if algorithm.lower() != "ed25519" or params.get("algorithm", "ed25519").lower() \
                != "ed25519":
            raise SignatureProblem("err.signature.invalid", "only ed25519 signatures are "
                                   "accepted")
        created, expires = params.get("created", ""), params.get("expires", "")
        if not (created.isdigit() and expires.isdigit()):
            raise SignatureProblem("err.signature.invalid", "the signature needs created "
                                   "and expires (Unix seconds)")
        if int(created) > now + CLOCK_SKEW_SECONDS or int(expires) < now - CLOCK_SKEW_SECONDS:
            raise SignatureProblem("err.signature.invalid", "the signature has expired or is "
                                   "not valid yet")
        try:
            value = base64.b64decode(params.get("signature", ""), validate=True)
        except ValueError:
            raise SignatureProblem("err.signature.invalid", "signature is not base64") \
                from None
        signed = self._signed_text(created, expires, digest(header, message))
        _check(_key(keys, sender_id, kid), value, signed)
        return kid


class DetachedJws:
    name = "jws"

    def recognises(self, signature: str) -> bool:
        return signature.count(".") == 2 and not signature.lstrip().startswith("Signature")

    def sign(self, signer: Signer, header: Any, message: Any, now: int) -> str:
        protected = b64url(orjson.dumps({"alg": "EdDSA", "kid": signer.kid,
                                         "iat": now, "sender_id": signer.sender_id}))
        payload = b64url(canonical(header, message))
        value = signer.key.sign(f"{protected}.{payload}".encode())
        return f"{protected}..{b64url(value)}"

    def verify(self, signature: str, header: Any, message: Any, sender_id: str,
               keys: KeyLookup, now: int) -> str:
        protected, attached, value = signature.strip().split(".")
        try:
            fields = orjson.loads(unb64url(protected))
            raw = unb64url(value)
            carried = orjson.loads(unb64url(attached)) if attached else None
        except (ValueError, orjson.JSONDecodeError):
            raise SignatureProblem("err.signature.invalid", "the JWS is not well formed") \
                from None
        if not isinstance(fields, dict) or fields.get("alg") != "EdDSA" or \
                not isinstance(fields.get("kid"), str):
            raise SignatureProblem("err.signature.invalid", 'the JWS header needs alg '
                                   '"EdDSA" and a kid')
        body = canonical(header, message)
        if carried is not None and carried != orjson.loads(body):
            raise SignatureProblem("err.signature.invalid", "the JWS payload is not this "
                                   "message's header and message")
        payload = attached or b64url(body)
        _check(_key(keys, sender_id, fields["kid"]), raw, f"{protected}.{payload}".encode())
        return str(fields["kid"])


SCHEMES: dict[str, Scheme] = {"header": HeaderForm(), "jws": DetachedJws()}


def sign(scheme: str, signer: Signer, header: Any, message: Any, now: int) -> str:
    return SCHEMES[scheme].sign(signer, header, message, now)


def verify(signature: Any, header: Any, message: Any, sender_id: str, keys: KeyLookup,
           now: int) -> str:
    """The kid that signed, or `SignatureProblem`."""
    if not isinstance(signature, str) or not signature.strip():
        raise SignatureProblem("err.signature.missing", "this sender must sign its "
                               "messages (the signature field)")
    for scheme in SCHEMES.values():
        if scheme.recognises(signature):
            return scheme.verify(signature, header, message, sender_id, keys, now)
    raise SignatureProblem("err.signature.invalid", "the signature is neither the DCI "
                           'header form (Signature: kidId="…") nor a compact JWS')
