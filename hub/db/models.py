"""SQLAlchemy 2 typed models of the unified registry.

Natural keys (NIK, KK, region code) are indexed but are not primary keys: a person may
have no NIK yet, two agencies may claim one NIK for two people, and a KK is reissued when
a family splits. Surrogate integer keys keep links stable while those facts are argued.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL wants BIGINT at scale.
Id = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, datetime: DateTime(timezone=True)}


class Region(Base):
    __tablename__ = "region"

    code: Mapped[str] = mapped_column(String(13), primary_key=True)
    level: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(120))
    parent_code: Mapped[str | None] = mapped_column(
        ForeignKey("region.code"), index=True, default=None
    )


class Household(Base):
    __tablename__ = "household"
    __table_args__ = (
        # Keyset pages over a region (and a desil) walk these in order.
        Index("ix_household_village_id", "village_code", "id"),
        Index("ix_household_desil_village_id", "desil", "village_code", "id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kk: Mapped[str | None] = mapped_column(String(16), unique=True)
    village_code: Mapped[str] = mapped_column(ForeignKey("region.code"))
    address: Mapped[str | None] = mapped_column(String(200))
    desil: Mapped[int | None] = mapped_column(SmallInteger)
    head_person_id: Mapped[int | None] = mapped_column(Id)
    # DTKS' own household id (IDBDT): one DTKS household may hold several KKs.
    dtks_id: Mapped[str | None] = mapped_column(String(40), index=True)
    # field -> the source record it came from and when (survivorship lineage)
    lineage: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default=text("'{}'"))
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Person(Base):
    __tablename__ = "person"
    __table_args__ = (
        Index("ix_person_household_id", "household_id", "id"),
        # (nik, id) serves "WHERE nik = ? ORDER BY id LIMIT 1": on nik alone PostgreSQL
        # prefers walking the primary key in id order, a full scan when the NIK is rare.
        Index("ix_person_nik_id", "nik", "id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    nik: Mapped[str | None] = mapped_column(String(16))
    household_id: Mapped[int | None] = mapped_column(ForeignKey("household.id"))
    name: Mapped[str] = mapped_column(String(120))
    name_normalized: Mapped[str] = mapped_column(String(120), index=True)
    sex: Mapped[str | None] = mapped_column(String(1))
    birth_date: Mapped[date | None] = mapped_column(Date)
    birth_place: Mapped[str | None] = mapped_column(String(80))
    relation: Mapped[str | None] = mapped_column(String(20))
    alive: Mapped[bool] = mapped_column(Boolean, default=True)
    death_date: Mapped[date | None] = mapped_column(Date)
    lineage: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default=text("'{}'"))
    # Where the person lives for access control: the household's village, else the
    # kecamatan their NIK was issued in. Kept on the row so that a region-scoped client's
    # filter is one indexed range, never a join.
    region_code: Mapped[str | None] = mapped_column(String(13), index=True)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


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


class Enrollment(Base):
    __tablename__ = "enrollment"
    __table_args__ = (UniqueConstraint("person_id", "program"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    program: Mapped[str] = mapped_column(String(20), index=True)
    status: Mapped[str] = mapped_column(String(12))
    card_number: Mapped[str | None] = mapped_column(String(40))
    period_start: Mapped[date | None] = mapped_column(Date)
    period_end: Mapped[date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(40))
    source_record_id: Mapped[int | None] = mapped_column(Id)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


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


class MatchKey(Base):
    """A person-record's matching features, kept beside the record so an incremental
    run can find the earlier records a new one may match by index look-ups, without
    reading the whole registry."""

    __tablename__ = "match_key"
    # One index per blocking key an incremental run looks candidates up by: each
    # pending record's key is then one index seek, not a scan of a whole village.
    __table_args__ = (Index("ix_match_key_name_key_birth_year_district", "name_key",
                            "birth_year", "district_code"),
                      Index("ix_match_key_name_key_village", "name_key", "village_code"),
                      Index("ix_match_key_village_birth_date", "village_code", "birth_date"))

    record_id: Mapped[int] = mapped_column(
        ForeignKey("source_record.id", ondelete="CASCADE"), primary_key=True
    )
    source: Mapped[str] = mapped_column(String(40))
    nik: Mapped[str | None] = mapped_column(String(16), index=True)
    nik12: Mapped[str | None] = mapped_column(String(12), index=True)
    name_norm: Mapped[str] = mapped_column(String(120))
    name_key: Mapped[str] = mapped_column(String(120))
    birth_date: Mapped[str | None] = mapped_column(String(10))
    birth_year: Mapped[int | None] = mapped_column(SmallInteger)
    sex: Mapped[str | None] = mapped_column(String(1))
    village_code: Mapped[str | None] = mapped_column(String(13))
    district_code: Mapped[str | None] = mapped_column(String(8))
    kk: Mapped[str | None] = mapped_column(String(16), index=True)
    # DTKS household id: a changed DTKS household row touches its members through it.
    household_key: Mapped[str | None] = mapped_column(String(40), index=True)
    # The other members of its family in the same list (`hub.domain.relatives`).
    relatives: Mapped[str | None] = mapped_column(Text)
    # The record's person, as `source_record.person_id` (written with it, by the link
    # phase and by stewards): look-ups by a key get the person without a visit to the
    # wide record row.
    person_id: Mapped[int | None] = mapped_column(Id)


class ReviewTask(Base):
    """A pair the model was unsure of, waiting for a data steward."""

    __tablename__ = "review_task"
    __table_args__ = (
        UniqueConstraint("record_id", "candidate_person_id"),
        Index("ix_review_task_status_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("source_record.id", ondelete="CASCADE"))
    candidate_person_id: Mapped[int] = mapped_column(Id)
    candidate_record_id: Mapped[int | None] = mapped_column(Id)
    probability: Mapped[float] = mapped_column(Float)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    region_code: Mapped[str | None] = mapped_column(String(13), index=True)
    status: Mapped[str] = mapped_column(String(12), default="OPEN")
    decided_by: Mapped[str | None] = mapped_column(String(80))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class LinkDecision(Base):
    """A steward's decision, kept forever: LINK pins a record to a person, NOT_LINK
    forbids a record from ever being linked to that person again."""

    __tablename__ = "link_decision"
    __table_args__ = (Index("ix_link_decision_record_id", "record_id", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("source_record.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(Id)
    decision: Mapped[str] = mapped_column(String(10))
    decided_by: Mapped[str] = mapped_column(String(80))
    reason: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime] = mapped_column(server_default=func.now())


class NameFrequency(Base):
    """How many match keys carry each normalised name: the term frequencies an
    incremental run scores with, kept in step with `match_key` by the runs that write
    it. Counting them from `match_key` itself read most of the table every run."""

    __tablename__ = "name_frequency"

    name_norm: Mapped[str] = mapped_column(String(120), primary_key=True)
    records: Mapped[int] = mapped_column(Integer)


class MatchModel(Base):
    """A trained Fellegi-Sunter model (Splink settings JSON), versioned so that every
    link can say which model made it and replicas share one model."""

    __tablename__ = "match_model"

    version: Mapped[int] = mapped_column(Id, primary_key=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    trained_on: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


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


class WebhookDelivery(Base):
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
    status: Mapped[str] = mapped_column(String(12), default="PENDING")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column()
    delivered_at: Mapped[datetime | None] = mapped_column()


class SigningKeyRow(Base):
    """The hub's Ed25519 keys for the tokens it issues. Kept in the database so every
    replica signs and verifies with the same keys; a retired key still verifies the
    tokens it signed until they expire, and stays in the published JWK set until then."""

    __tablename__ = "signing_key"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    private_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column()
    retired_at: Mapped[datetime | None] = mapped_column()


class DciMessage(Base):
    """Every DCI message id received, per sender: a replay of one is refused
    (`rjct.message_id.duplicate`) instead of answered twice."""

    __tablename__ = "dci_message"

    sender_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(99), primary_key=True)
    action: Mapped[str] = mapped_column(String(40))
    received_at: Mapped[datetime] = mapped_column()


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


class DciCallback(Base):
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
    status: Mapped[str] = mapped_column(String(12), default="PENDING")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column()
    delivered_at: Mapped[datetime | None] = mapped_column()


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
