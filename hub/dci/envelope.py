"""DCI message envelopes, pure: reading a request's header strictly (with the reason
code the standard defines for each fault), and writing the hub's own headers.

Strict on what the hub sends, clear on what it rejects: a fault is a `Rejection` with a
`rjct.*` code and a message naming the field, never an exception of the parser.
Tolerance of partners' known drift (a string `total_count`) is opt-in.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

VERSION = "1.0.0"


class Rejection(Exception):
    """A request the hub refuses with a DCI reason code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Header:
    version: str
    message_id: str
    message_ts: datetime
    action: str
    sender_id: str
    sender_uri: str | None
    receiver_id: str | None
    total_count: int


def timestamp(moment: datetime) -> str:
    """ISO 8601 with its time zone, as every DCI timestamp must be."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def parse_timestamp(value: Any, code: str, field: str) -> datetime:
    if not isinstance(value, str):
        raise Rejection(code, f"{field} must be an ISO 8601 timestamp string")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Rejection(code, f"{field} {value!r} is not an ISO 8601 timestamp") from None
    if moment.tzinfo is None:
        raise Rejection(code, f"{field} {value!r} has no time zone (ISO 8601 with an "
                        "offset, e.g. 2026-11-23T08:00:00+07:00)")
    return moment


def parse_header(raw: Any, action: str, *, callback: bool = False,
                 tolerate_string_count: bool = False) -> Header:
    """A request's header, strictly. A `callback` header (MsgCallbackHeader: the IBR's
    enrolment updates, a registry's notify) may leave out total_count."""
    if not isinstance(raw, dict):
        raise Rejection("rjct.action.invalid", "the message needs a header object")
    version = raw.get("version", VERSION)
    if version != VERSION:
        raise Rejection("rjct.version.invalid", f"version {version!r} is not supported; "
                        f"this hub speaks {VERSION}")
    message_id = raw.get("message_id")
    if not isinstance(message_id, str) or not message_id.strip() or len(message_id) > 99:
        # The standard has no code for a missing id; this one says what is wrong.
        raise Rejection("rjct.message_id.invalid", "header.message_id must be a non-empty "
                        "string of at most 99 characters")
    moment = parse_timestamp(raw.get("message_ts"), "rjct.message_ts.invalid",
                             "header.message_ts")
    if raw.get("action") != action:
        raise Rejection("rjct.action.invalid", f"header.action must be {action!r} at this "
                        f"endpoint, got {raw.get('action')!r}")
    if raw.get("is_msg_encrypted") is True:
        raise Rejection("rjct.action.not_supported", "encrypted messages (JWE) are not "
                        "accepted: send is_msg_encrypted false; the transport is TLS")
    sender = raw.get("sender_id")
    if not isinstance(sender, str) or not sender.strip():
        raise Rejection("rjct.action.invalid", "header.sender_id is required")
    total = raw.get("total_count", 0 if callback else None)
    if isinstance(total, str) and tolerate_string_count and total.isdigit():
        total = int(total)
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        raise Rejection("rjct.total_count.invalid", "header.total_count must be a "
                        f"non-negative integer, got {total!r}")
    return Header(version, message_id, moment, action, sender, raw.get("sender_uri"),
                  raw.get("receiver_id"), total)


def reply_header(request: Header | None, action: str, status: str, *, sender_id: str,
                 total: int = 0, completed: int = 0, code: str | None = None,
                 message: str | None = None) -> dict[str, Any]:
    """The hub's header on a reply: a new message id, the caller as receiver."""
    header: dict[str, Any] = {
        "version": VERSION, "message_id": uuid.uuid4().hex,
        "message_ts": timestamp(datetime.now(UTC)), "action": action, "status": status,
        "total_count": total, "completed_count": completed, "sender_id": sender_id,
        "is_msg_encrypted": False,
    }
    if request is not None:
        header["receiver_id"] = request.sender_id
    if code:
        header["status_reason_code"] = code
    if message:
        header["status_reason_message"] = message[:999]
    return header
