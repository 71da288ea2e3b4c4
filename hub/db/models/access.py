"""Who may call (API clients, signing keys, trusted documents) and the audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.models.base import Base, Id


class ApiClient(Base):
    """An agency or partner system allowed to call the API. The key is shown once and
    kept only as a SHA-256 digest: keys are 256 random bits, so a slow password hash
    would add latency to every request and no security."""

    __tablename__ = "api_client"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    role: Mapped[str] = mapped_column(String(12))
    regions: Mapped[list[str]] = mapped_column(JSON, default=list)
    agency: Mapped[str | None] = mapped_column(String(40))
    # UU PDP art. 20: the legal basis and purpose of the processing, recorded per client.
    legal_basis: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(Text)
    key_id: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    rate_per_minute: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    rotated_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class AuditLog(Base):
    """Append-only (database triggers refuse UPDATE and DELETE) and hash-chained: each
    entry's hash covers the previous hash and the entry's canonical JSON, so an edited,
    removed or reordered entry breaks the chain (`slrt-hub audit verify`)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    client_id: Mapped[int | None] = mapped_column(Id)
    operation: Mapped[str] = mapped_column(String(200))
    entry: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditSubject(Base):
    """Whose data an audit entry touched, indexed so that "who has seen this person's
    data" is an index look-up. Derived from the entry (which the chain covers)."""

    __tablename__ = "audit_subject"
    __table_args__ = (Index("ix_audit_subject_kind_subject", "kind", "subject_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    audit_id: Mapped[int] = mapped_column(ForeignKey("audit_log.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    subject_id: Mapped[int] = mapped_column(Id)
    identifier: Mapped[str | None] = mapped_column(String(16), index=True)


class AuditHead(Base):
    """The chain's head, one row. Every writer updates it first, which serialises
    appends across processes on PostgreSQL (row lock) and SQLite (write lock) alike,
    and lets `verify` notice a truncated tail."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_id: Mapped[int] = mapped_column(Id, default=0)
    hash: Mapped[str] = mapped_column(String(64))
    entries: Mapped[int] = mapped_column(Id, default=0)


class TrustedDocument(Base):
    """A registered GraphQL operation (trusted document), run by its SHA-256 hash.
    PARTNER clients may run nothing else."""

    __tablename__ = "trusted_document"

    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    query: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class SigningKeyRow(Base):
    """The hub's Ed25519 keys for the tokens it issues. Kept in the database so every
    replica signs and verifies with the same keys; a retired key still verifies the
    tokens it signed until they expire, and stays in the published JWK set until then."""

    __tablename__ = "signing_key"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    private_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column()
    retired_at: Mapped[datetime | None] = mapped_column()


class Officer(Base):
    """A person who works the desk console. An officer belongs to an API client and
    inherits its role and regions (the client is the office; the officer is who sits
    at it), so the console can never see more than the office's own API key could.
    Passwords are kept as argon2id hashes only."""

    __tablename__ = "officer"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    username: Mapped[str] = mapped_column(String(60), unique=True)
    full_name: Mapped[str] = mapped_column(String(120))
    client_id: Mapped[int] = mapped_column(ForeignKey("api_client.id"), index=True)
    desk: Mapped[str] = mapped_column(String(10))
    password_hash: Mapped[str] = mapped_column(String(200))
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column()
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class OfficerSession(Base):
    """A signed-in console session, kept on the server so that signing out, disabling
    an officer or revoking their client ends it at once. The browser holds only the
    random token; the table holds its SHA-256 digest."""

    __tablename__ = "officer_session"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    officer_id: Mapped[int] = mapped_column(ForeignKey("officer.id"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
