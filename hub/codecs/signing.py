"""Signed messages between the hub and agencies (webhooks and callbacks): HMAC-SHA256
over the timestamp and the exact body, with a shared secret per agency.

Headers: `X-SLRT-Timestamp` (Unix seconds) and `X-SLRT-Signature: sha256=<hex>`. The
timestamp is signed too and must be recent, so a captured message cannot be replayed
later; the delivery id (`X-SLRT-Delivery`) lets the receiver drop a retry it has
processed already.
"""

from __future__ import annotations

import hashlib
import hmac

TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {"X-SLRT-Timestamp": str(timestamp),
            "X-SLRT-Signature": signature(secret, timestamp, body)}


def problem(secret: str, timestamp: str | None, sent: str | None, body: bytes, now: float,
            tolerance: float = TOLERANCE_SECONDS) -> str | None:
    """Why a message's signature is not acceptable, or None when it is."""
    if not timestamp or not sent:
        return "X-SLRT-Timestamp and X-SLRT-Signature are required"
    try:
        moment = int(timestamp)
    except ValueError:
        return "X-SLRT-Timestamp must be Unix seconds"
    if abs(now - moment) > tolerance:
        return f"the timestamp is more than {tolerance:.0f} s from now"
    if not hmac.compare_digest(signature(secret, moment, body), sent):
        return "the signature does not match the body"
    return None
