"""The unified registry: regions, households, persons and their enrolments."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.models.base import Base, Id


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


class VillageFigure(Base):
    """Households and living persons of one village and desil, kept as the registry
    changes (`hub.db.figures`): a region's statistics are then a sum over its villages
    instead of two aggregates over every person in it (a regency of a million persons
    took seconds per request)."""

    __tablename__ = "village_figure"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    village_code: Mapped[str] = mapped_column(String(13), index=True)
    desil: Mapped[int | None] = mapped_column(SmallInteger)
    households: Mapped[int]
    persons: Mapped[int]


class VillageCoverage(Base):
    """Per village and programme: living persons with an ACTIVE enrolment, their
    households, and those of them in desil 1-4. Counts are of distinct persons and
    households, each of which lies in one village, so they add up over a region."""

    __tablename__ = "village_coverage"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    village_code: Mapped[str] = mapped_column(String(13), index=True)
    program: Mapped[str] = mapped_column(String(20))
    enrolled_persons: Mapped[int]
    enrolled_households: Mapped[int]
    poor_enrolled: Mapped[int]
