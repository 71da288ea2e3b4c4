"""The SLRT desk: cases, referrals and their history, and the webhook outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.models.base import Base, Id, Outbox


class ServiceCase(Base):
    """A citizen's case at the SLRT desk (keluhan): a question, suggestion or complaint,
    registered by the front office or a village facilitator."""

    __tablename__ = "service_case"
    __table_args__ = (Index("ix_service_case_region_id", "region_code", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    ticket: Mapped[str | None] = mapped_column(String(40), unique=True)
    person_id: Mapped[int | None] = mapped_column(Id, index=True)
    household_id: Mapped[int | None] = mapped_column(Id)
    # As the citizen gave them, when the registry does not (yet) know the person.
    nik: Mapped[str | None] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(120))
    region_code: Mapped[str] = mapped_column(String(13))
    in_dtks: Mapped[bool] = mapped_column(Boolean, default=False)
    home_visit: Mapped[bool] = mapped_column(Boolean, default=False)
    kind: Mapped[str] = mapped_column(String(12))
    category: Mapped[str] = mapped_column(String(24))
    channel: Mapped[str] = mapped_column(String(12))
    urgency: Mapped[str] = mapped_column(String(10))
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default="OPEN")
    registered_by: Mapped[str] = mapped_column(String(80))
    officer: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column()
    first_response_due: Mapped[datetime] = mapped_column()
    first_response_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    resolution: Mapped[str | None] = mapped_column(Text)


class Referral(Base):
    """A rujukan: one service of one agency recommended for a case, and its progress."""

    __tablename__ = "referral"
    __table_args__ = (
        Index("ix_referral_agency_status", "agency", "status"),
        Index("ix_referral_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("service_case.id"), index=True)
    service: Mapped[str] = mapped_column(String(40))
    agency: Mapped[str] = mapped_column(String(40))
    region_code: Mapped[str] = mapped_column(String(13), index=True)
    status: Mapped[str] = mapped_column(String(12))
    notes: Mapped[str | None] = mapped_column(Text)
    verification_code: Mapped[str | None] = mapped_column(String(11), unique=True)
    due_at: Mapped[datetime | None] = mapped_column()
    overdue_at: Mapped[datetime | None] = mapped_column()
    escalated_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()
    referred_at: Mapped[datetime | None] = mapped_column()
    accepted_at: Mapped[datetime | None] = mapped_column()
    settled_at: Mapped[datetime | None] = mapped_column()


class ReferralEvent(Base):
    """A referral's history, append-only: every step, who took it, when and why; also
    the SLA watcher's OVERDUE and ESCALATED marks."""

    __tablename__ = "referral_event"
    __table_args__ = (Index("ix_referral_event_referral_id", "referral_id", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referral.id"))
    from_status: Mapped[str | None] = mapped_column(String(12))
    to_status: Mapped[str] = mapped_column(String(12))
    actor: Mapped[str] = mapped_column(String(80))
    officer: Mapped[str | None] = mapped_column(String(120))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column()


class WebhookDelivery(Outbox, Base):
    """The outbox: a message to an agency, written in the same transaction as the change
    it announces, so nothing is sent that did not happen and nothing that happened is
    lost; delivered with retries, dead-lettered (visible, retryable) after the last."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (Index("ix_webhook_delivery_due", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    agency: Mapped[str] = mapped_column(String(40))
    event: Mapped[str] = mapped_column(String(40))
    referral_id: Mapped[int | None] = mapped_column(Id, index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
