"""DCI messaging: message ids seen, asynchronous transactions, the callback outbox,
subscriptions and callbacks received."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.models.base import Base, Id, Outbox


class DciMessage(Base):
    """Every DCI message id received, per sender: a replay of one is refused
    (`rjct.message_id.duplicate`) instead of answered twice."""

    __tablename__ = "dci_message"

    sender_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(99), primary_key=True)
    action: Mapped[str] = mapped_column(String(40))
    received_at: Mapped[datetime] = mapped_column()


class DciTransaction(Base):
    """An asynchronous DCI request (search, txn-status, subscribe, unsubscribe): what was
    asked, by whom, its state (pdng, succ, rjct) and, once done, the answer sent back,
    so `txn/status` can report it. Claimed with a lease so one replica processes it."""

    __tablename__ = "dci_transaction"
    __table_args__ = (
        UniqueConstraint("sender_id", "correlation_id"),
        Index("ix_dci_transaction_sender_txn", "sender_id", "transaction_id"),
        Index("ix_dci_transaction_due", "status", "claimed_until"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    sender_id: Mapped[str] = mapped_column(String(120))
    client_id: Mapped[int] = mapped_column(Id)
    action: Mapped[str] = mapped_column(String(24))
    transaction_id: Mapped[str] = mapped_column(String(99))
    # the request's message id: the correlation id of every answer to it
    correlation_id: Mapped[str] = mapped_column(String(99))
    reference_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    callback_url: Mapped[str] = mapped_column(String(500))
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(8))
    claimed_until: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column()
    completed_at: Mapped[datetime | None] = mapped_column()


class DciCallback(Outbox, Base):
    """The DCI outbox: an on-search, on-status, on-subscribe, on-unsubscribe or notify
    message for a sender's callback URL, written in the transaction that produced it,
    signed when sent, retried with backoff, dead-lettered after the last try. The
    message id is fixed at write time, so a retried delivery is recognisably the same."""

    __tablename__ = "dci_callback"
    __table_args__ = (Index("ix_dci_callback_due", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    sender_id: Mapped[str] = mapped_column(String(120))
    url: Mapped[str] = mapped_column(String(500))
    action: Mapped[str] = mapped_column(String(24))
    header: Mapped[dict[str, Any]] = mapped_column(JSON)
    message: Mapped[dict[str, Any]] = mapped_column(JSON)


class DciSubscription(Base):
    """A DCI subscriber's standing request: which registry events, which records
    (filter), how often (cron), until when, and how far it has been sent (`cursor`, the
    last registry_event id considered)."""

    __tablename__ = "dci_subscription"
    __table_args__ = (Index("ix_dci_subscription_due", "status", "next_due_at"),)

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    sender_id: Mapped[str] = mapped_column(String(120), index=True)
    client_id: Mapped[int] = mapped_column(Id)
    transaction_id: Mapped[str] = mapped_column(String(99))
    reference_id: Mapped[str] = mapped_column(String(99))
    event_types: Mapped[list[str]] = mapped_column(JSON)
    filter_type: Mapped[str] = mapped_column(String(16))
    filter: Mapped[Any] = mapped_column(JSON)
    notify_record_type: Mapped[str] = mapped_column(String(16))
    frequency: Mapped[str | None] = mapped_column(String(120))
    start_time: Mapped[datetime | None] = mapped_column()
    end_time: Mapped[datetime | None] = mapped_column()
    callback_url: Mapped[str] = mapped_column(String(500))
    locale: Mapped[str | None] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(12))
    cursor: Mapped[int] = mapped_column(Id, default=0)
    next_due_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()


class DciInbox(Base):
    """DCI callbacks this hub received as a client of other registries (on-search,
    on-subscribe, notify ...), verified and kept once each: a registry that retries a
    delivery whose acknowledgement it missed is acknowledged again, not processed twice."""

    __tablename__ = "dci_inbox"
    __table_args__ = (UniqueConstraint("sender_id", "message_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    sender_id: Mapped[str] = mapped_column(String(120))
    message_id: Mapped[str] = mapped_column(String(99))
    action: Mapped[str] = mapped_column(String(24), index=True)
    header: Mapped[dict[str, Any]] = mapped_column(JSON)
    message: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column()
