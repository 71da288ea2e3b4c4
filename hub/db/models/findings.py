"""What reconciliation found (agencies that disagree, people not covered) and the
registry's change history that subscriptions are notified from."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Index,
    String,
    Text,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.models.base import Base, Id


class Finding(Base):
    __tablename__ = "finding"
    __table_args__ = (
        Index("ix_finding_kind_region", "kind", "region_code", "id"),
        # Each run reads the findings of the persons it touched.
        Index("ix_finding_subject", "subject_type", "subject_id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    subject_type: Mapped[str] = mapped_column(String(20))
    subject_id: Mapped[int] = mapped_column(Id)
    region_code: Mapped[str | None] = mapped_column(String(13), index=True)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12), default="OPEN")
    owner_agency: Mapped[str | None] = mapped_column(String(40))
    # kind + subject + detail: one finding per fact, raised again by later runs in place.
    fingerprint: Mapped[str] = mapped_column(String(200), unique=True)
    evidence_hash: Mapped[str] = mapped_column(String(64))
    resolved_reason: Mapped[str | None] = mapped_column(Text)
    resolved_by: Mapped[str | None] = mapped_column(String(80))
    closed_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class RegistryEvent(Base):
    """The registry's change history, written by reconciliation in the transaction that
    makes the change: a new household, a member added or removed, a desil change, a
    death, an enrolment change. DCI subscribers are notified from it by cursor (the
    last event id each has been sent), so a restart loses nothing. Reconciliation runs
    one at a time (its lease), so ids commit in order and a cursor never skips one."""

    __tablename__ = "registry_event"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    household_id: Mapped[int | None] = mapped_column(Id)
    person_id: Mapped[int | None] = mapped_column(Id)
    region_code: Mapped[str | None] = mapped_column(String(13))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    occurred_at: Mapped[datetime] = mapped_column()
