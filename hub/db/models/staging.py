"""Staging and sync bookkeeping: agency records as fetched, stream cursors, runs, queued
syncs and the leases that keep jobs single."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.models.base import Base, Id

PENDING_SQL = "matched_hash IS NULL OR matched_hash <> payload_hash"


class SourceRecord(Base):
    """One agency's record as it arrived: the raw payload is kept so nothing is lost,
    and its hash makes a re-run that sees nothing new write nothing."""

    __tablename__ = "source_record"
    # The records a reconciliation run has still to match: a partial index holds only
    # those, so an incremental run finds its 1% without reading the other 99%.
    __table_args__ = (
        UniqueConstraint("source", "source_key"),
        Index("ix_source_record_pending", "id",
              postgresql_where=text(PENDING_SQL), sqlite_where=text(PENDING_SQL)),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    source: Mapped[str] = mapped_column(String(40))
    source_key: Mapped[str] = mapped_column(String(80))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    payload_hash: Mapped[str] = mapped_column(String(64))
    first_seen: Mapped[datetime] = mapped_column(server_default=func.now())
    last_seen: Mapped[datetime] = mapped_column(server_default=func.now())
    # Deferrable: a reconciliation run links records to the persons its golden phase
    # creates later in the same transaction (PostgreSQL; see migration 0011).
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", deferrable=True, initially="IMMEDIATE"), index=True)
    quarantine_reason: Mapped[str | None] = mapped_column(Text)
    # The record in the hub's terms (field names, formats), mapped by the connector;
    # null while quarantined.
    normalized: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # How the record got its person: NIK, PROBABILISTIC, NEW or MANUAL, and the score.
    link_method: Mapped[str | None] = mapped_column(String(16))
    link_score: Mapped[float | None] = mapped_column(Float)
    # A steward decided this link: no automatic run may change it.
    link_locked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The payload hash the current link was computed from; differs from payload_hash
    # (or is null) while the record waits for matching.
    matched_hash: Mapped[str | None] = mapped_column(String(64))


class StreamState(Base):
    """Where a connector's stream stopped. Written in the same transaction as the page
    it follows, so after a crash the next run resumes exactly there."""

    __tablename__ = "stream_state"

    connector: Mapped[str] = mapped_column(String(40), primary_key=True)
    stream: Mapped[str] = mapped_column(String(40), primary_key=True)
    cursor: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class SyncRun(Base):
    __tablename__ = "sync_run"
    __table_args__ = (Index("ix_sync_run_connector_id", "connector", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    connector: Mapped[str] = mapped_column(String(40))
    stream: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(12))
    started_at: Mapped[datetime] = mapped_column(server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column()
    cursor_before: Mapped[str | None] = mapped_column(Text)
    cursor_after: Mapped[str | None] = mapped_column(Text)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)


class Lease(Base):
    """A named lock with an expiry: the scheduler leader and each running job hold
    one, and a replica that dies simply stops renewing it."""

    __tablename__ = "lease"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    holder: Mapped[str] = mapped_column(String(120))
    expires_at: Mapped[datetime] = mapped_column()
    acquired_at: Mapped[datetime] = mapped_column()


class SyncRequest(Base):
    """A sync asked for through the API; the scheduler leader picks it up."""

    __tablename__ = "sync_request"
    __table_args__ = (Index("ix_sync_request_status_id", "status", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    connector: Mapped[str | None] = mapped_column(String(40))
    full: Mapped[bool] = mapped_column(Boolean, default=False)
    requested_by: Mapped[str | None] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(12), default="QUEUED")
    requested_at: Mapped[datetime] = mapped_column(server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(Text)
    # The scheduler running it (a lease holder id), and how many times it was started:
    # a request whose runner holds no lease any more is queued again.
    runner: Mapped[str | None] = mapped_column(String(120))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
