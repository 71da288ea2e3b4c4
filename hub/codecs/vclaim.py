"""BPJS Kesehatan VClaim security, as BPJS documents it for its partners.

Requests carry `X-cons-id`, `X-timestamp` (Unix seconds, UTC), `X-signature` (base64
HMAC-SHA256 of "consid&timestamp" under the secret key) and `user_key`. Response bodies
are LZ-string `compressToEncodedURIComponent` text, encrypted with AES-256-CBC under the
SHA-256 of consid + secret + timestamp, the IV being that key's first 16 bytes.
Pure functions: the BPJS simulator and the BPJS connector share them. Compression uses
the `lzstring` package; decompression, on the hub's ingest path, `hub.codecs.lz`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from lzstring import LZString

from hub.codecs.lz import LZError, decompress_from_encoded_uri_component

MAX_CLOCK_SKEW_S = 300


def signature(cons_id: str, secret: str, timestamp: str) -> str:
    digest = hmac.new(secret.encode(), f"{cons_id}&{timestamp}".encode(), hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


def _cipher(cons_id: str, secret: str, timestamp: str) -> Cipher:
    key = hashlib.sha256(f"{cons_id}{secret}{timestamp}".encode()).digest()
    return Cipher(algorithms.AES(key), modes.CBC(key[:16]))


def encrypt(plaintext: str, cons_id: str, secret: str, timestamp: str) -> str:
    compressed = LZString().compressToEncodedURIComponent(plaintext).encode()
    padder = padding.PKCS7(128).padder()
    padded = padder.update(compressed) + padder.finalize()
    encryptor = _cipher(cons_id, secret, timestamp).encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode()


def decrypt(ciphertext: str, cons_id: str, secret: str, timestamp: str) -> str:
    """Raises ValueError when the text was not encrypted for this timestamp and key."""
    decryptor = _cipher(cons_id, secret, timestamp).decryptor()
    try:
        padded = decryptor.update(base64.b64decode(ciphertext)) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        compressed = unpadder.update(padded) + unpadder.finalize()
    except ValueError as exc:
        raise ValueError(f"cannot decrypt the VClaim response: {exc}") from None
    try:
        return decompress_from_encoded_uri_component(compressed.decode())
    except (LZError, UnicodeDecodeError) as exc:
        raise ValueError(f"the decrypted VClaim response is not LZ-string text: {exc}") from None
