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

from hub.errors import Refusal

VERSION = "1.0.0"

# The reason codes a reply's header may carry (the specifications' enum
# MsgHeaderStatusReasonCode); an item's own codes belong in the item, not the header.
HEADER_CODES = frozenset({
    "rjct.version.invalid", "rjct.message_id.duplicate", "rjct.message_ts.invalid",
    "rjct.action.invalid", "rjct.action.not_supported", "rjct.total_count.invalid",
    "rjct.total_count.limit_exceeded", "rjct.errors.too_many",
})
MAX_ID_LENGTH = 99  # message_id, transaction_id, reference_id: maxLength in the specs
MAX_SENDER_LENGTH = 120  # what the hub stores of a sender id


class Rejection(Refusal):
    """A request the hub refuses with a DCI reason code."""


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
    if not isinstance(message_id, str) or not message_id.strip() or \
            len(message_id) > MAX_ID_LENGTH:
        # The standard has no code for a bad id: the header as a whole is invalid.
        raise Rejection("rjct.action.invalid", "header.message_id must be a non-empty "
                        f"string of at most {MAX_ID_LENGTH} characters")
    moment = parse_timestamp(raw.get("message_ts"), "rjct.message_ts.invalid",
                             "header.message_ts")
    if raw.get("action") != action:
        raise Rejection("rjct.action.invalid", f"header.action must be {action!r} at this "
                        f"endpoint, got {raw.get('action')!r}")
    if raw.get("is_msg_encrypted") is True:
        raise Rejection("rjct.action.not_supported", "encrypted messages (JWE) are not "
                        "accepted: send is_msg_encrypted false; the transport is TLS")
    sender = raw.get("sender_id")
    if not isinstance(sender, str) or not sender.strip() or len(sender) > MAX_SENDER_LENGTH:
        raise Rejection("rjct.action.invalid", "header.sender_id is required: a string of "
                        f"at most {MAX_SENDER_LENGTH} characters")
    sender_uri = raw.get("sender_uri")
    if sender_uri is not None and (not isinstance(sender_uri, str) or len(sender_uri) > 400):
        raise Rejection("rjct.action.invalid", "header.sender_uri is a URL of at most 400 "
                        "characters")
    total = raw.get("total_count", 0 if callback else None)
    if isinstance(total, str) and tolerate_string_count and total.isdigit():
        total = int(total)
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        raise Rejection("rjct.total_count.invalid", "header.total_count must be a "
                        f"non-negative integer, got {total!r}")
    receiver = raw.get("receiver_id")
    return Header(version, message_id, moment, action, sender, sender_uri,
                  receiver if isinstance(receiver, str) else None, total)


def json_content_type(content_type: str | None) -> str | None:
    """Why a request's Content-Type is not JSON (None when it is): a DCI message is
    `application/json`, and a body sent as anything else was not meant as one."""
    media, *params = (part.strip().lower() for part in (content_type or "").split(";"))
    if media != "application/json":
        return (f"Content-Type {media!r} is not application/json" if media
                else "send Content-Type: application/json")
    for param in params:
        name, _, value = param.partition("=")
        if name.strip() == "charset" and value.strip('" ') not in ("utf-8", "utf8"):
            return f"charset {value!r} is not utf-8"
    return None


def check_message(message: Any) -> None:
    """What every request's message must be before anything reads it: an object, and its
    transaction_id (echoed in the answer) a string the answer's schema can carry."""
    if message is None:
        return  # some actions carry none; each endpoint says what it needs
    if not isinstance(message, dict):
        raise Rejection("rjct.action.invalid", "message must be a JSON object")
    transaction = message.get("transaction_id")
    if transaction is not None and (not isinstance(transaction, str)
                                    or len(transaction) > MAX_ID_LENGTH):
        raise Rejection("rjct.action.invalid", "message.transaction_id must be a string of "
                        f"at most {MAX_ID_LENGTH} characters")


def header_code(code: str) -> tuple[str, str | None]:
    """A reason code a header may carry: one of the header enum as it is, any other
    (an item's code raised for the whole message) as rjct.action.invalid, with the
    original kept for the message."""
    return (code, None) if code in HEADER_CODES else ("rjct.action.invalid", code)


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
        code, original = header_code(code)
        header["status_reason_code"] = code
        if original is not None:
            message = f"{original}: {message or ''}"
    if message:
        header["status_reason_message"] = message[:999]
    return header
