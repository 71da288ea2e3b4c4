"""Entity resolution: match keys, the trained model, name frequencies, review tasks and
stewards' decisions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.models.base import Base, Id


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
