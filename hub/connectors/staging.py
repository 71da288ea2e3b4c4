"""Staging: every record an agency sends is kept, valid or not, exactly once.

Idempotent on (source, source_key) with a content hash: a record seen again unchanged
writes nothing; a changed one is updated in place; one that breaks its schema is kept
with the reason (quarantine) and the raw payload, never dropped.

The hash is of the record in the hub's terms when it validates, of the raw payload when
it does not. So the same record read from two channels of one agency (the DTKS export
as CSV text, the usulan API as JSON numbers) or re-sent with cosmetic differences is
recognised as unchanged; the raw payload of the last real change is what is kept.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.connectors.base import Stream
from hub.db.models import SourceRecord

LOOKUP_CHUNK = 500


@dataclass
class StageCounts:
    fetched: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    quarantined: int = 0

    def add(self, other: StageCounts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def payload_hash(raw: Any) -> str:
    canonical = orjson.dumps(raw, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
                             default=str)
    return hashlib.sha256(canonical).hexdigest()


def describe(error: ValidationError) -> str:
    """One line a data steward can act on: which field, what is wrong."""
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "record"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


@dataclass
class _Prepared:
    key: str
    payload: Any
    hash: str
    normalized: dict[str, Any] | None
    reason: str | None


def prepare(stream: Stream, raw: Any) -> _Prepared:
    if not isinstance(raw, dict):
        digest = payload_hash(raw)
        return _Prepared(f"unkeyed:{digest}", raw, digest, None,
                         f"record is a {type(raw).__name__}, not an object")
    reason = None
    normalized = None
    try:
        key = stream.key(raw)
    except (AttributeError, TypeError, ValueError, KeyError) as exc:
        # A record shaped unlike the agency's schema must not fail its whole page.
        key, reason = None, f"the record's key cannot be read ({type(exc).__name__})"
    try:
        normalized = stream.normalize(stream.model.model_validate(raw))
    except ValidationError as exc:
        reason = reason or describe(exc)
    except ValueError as exc:  # mapping found a value it cannot use
        reason = reason or str(exc)
    if not key:
        # Without the agency's key there is nothing to update later; the hash keeps
        # a re-run from storing it twice.
        reason = reason or "record has no key"
        key = f"unkeyed:{payload_hash(raw)}"
    digest = payload_hash(normalized if reason is None else stream.comparable(raw))
    return _Prepared(str(key), raw, digest, normalized if reason is None else None, reason)


async def stage_page(
    connection: AsyncConnection, stream: Stream, records: list[Any]
) -> StageCounts:
    counts = StageCounts(fetched=len(records))
    prepared: dict[str, _Prepared] = {}
    for raw in records:
        item = prepare(stream, raw)
        prepared[item.key] = item  # the same key twice in one page: the last one wins
    counts.unchanged += len(records) - len(prepared)
    existing: dict[str, str] = {}
    keys = list(prepared)
    for start in range(0, len(keys), LOOKUP_CHUNK):
        chunk = keys[start : start + LOOKUP_CHUNK]
        rows = await connection.execute(
            select(SourceRecord.source_key, SourceRecord.payload_hash).where(
                SourceRecord.source == stream.source, SourceRecord.source_key.in_(chunk)
            )
        )
        existing.update((key, digest) for key, digest in rows)
    new, changed = [], []
    for item in prepared.values():
        if item.key not in existing:
            new.append(item)
        elif existing[item.key] != item.hash:
            changed.append(item)
        else:
            counts.unchanged += 1
    counts.new, counts.changed = len(new), len(changed)
    counts.quarantined = sum(1 for item in new + changed if item.reason)
    if new:
        await connection.execute(
            SourceRecord.__table__.insert(),
            [
                {"source": stream.source, "source_key": i.key, "payload": i.payload,
                 "payload_hash": i.hash, "normalized": i.normalized,
                 "quarantine_reason": i.reason}
                for i in new
            ],
        )
    if changed:
        table = SourceRecord.__table__
        await connection.execute(
            update(table)
            .where(table.c.source == stream.source, table.c.source_key == bindparam("k"))
            .values(payload=bindparam("p"), payload_hash=bindparam("h"),
                    normalized=bindparam("n"), quarantine_reason=bindparam("r"),
                    last_seen=func.now()),
            [{"k": i.key, "p": i.payload, "h": i.hash, "n": i.normalized, "r": i.reason}
             for i in changed],
        )
    return counts
