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
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
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
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class SourceRecord(Base):
    """One agency's record as it arrived: the raw payload is kept so nothing is lost,
    and its hash makes a re-run that sees nothing new write nothing."""

    __tablename__ = "source_record"
    __table_args__ = (UniqueConstraint("source", "source_key"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    source: Mapped[str] = mapped_column(String(40))
    source_key: Mapped[str] = mapped_column(String(80))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    payload_hash: Mapped[str] = mapped_column(String(64))
    first_seen: Mapped[datetime] = mapped_column(server_default=func.now())
    last_seen: Mapped[datetime] = mapped_column(server_default=func.now())
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), index=True)
    quarantine_reason: Mapped[str | None] = mapped_column(Text)
    # The record in the hub's terms (field names, formats), mapped by the connector;
    # null while quarantined.
    normalized: Mapped[dict[str, Any] | None] = mapped_column(JSON)


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
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Finding(Base):
    __tablename__ = "finding"
    __table_args__ = (Index("ix_finding_kind_region", "kind", "region_code", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    subject_type: Mapped[str] = mapped_column(String(20))
    subject_id: Mapped[int] = mapped_column(Id)
    region_code: Mapped[str | None] = mapped_column(String(13), index=True)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12), default="OPEN")
    owner_agency: Mapped[str | None] = mapped_column(String(40))
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
