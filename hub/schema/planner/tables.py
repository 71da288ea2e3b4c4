"""What the planner may compile: the GraphQL object types that are plain reads of one
table, their scalar fields' columns and their relations' joins.

Everything here mirrors a resolver in hub.schema.types: a field is listed only when its
resolver reads a column (or a row by a foreign key) and nothing else. A field not
listed (a computed one such as `lineage`, or `statistics`) sends the whole request to
the resolvers. Names come from the SQLAlchemy models, so a renamed column breaks here
at import rather than in a query.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from hub.access import guard
from hub.db.models import Enrollment, Household, Person, Region


class Form(Enum):
    """How a column becomes a JSON value the way the GraphQL scalar serialises it."""

    PLAIN = "plain"  # strings, integers, dates (ISO 8601 in both databases)
    ID = "id"  # an integer key served as a string (strawberry.ID)
    BOOLEAN = "boolean"  # SQLite keeps 0/1


@dataclass(frozen=True)
class Scalar:
    column: str
    form: Form = Form.PLAIN


@dataclass(frozen=True)
class Relation:
    """`target` rows whose `target_column` equals this row's `source_column`."""

    target: str
    many: bool
    target_column: str
    source_column: str
    order: tuple[str, ...] = ()
    # Enrollments an AGENCY client may see are its own programme's (guard._enrollment).
    agency_source_column: str | None = None


@dataclass(frozen=True)
class Guarded:
    """A type the row-level guard checks (hub.access.guard): visible when its region
    column lies in the client's scope, audited by id and identifier."""

    region_column: str
    identifier_column: str
    kinds: guard.SubjectKinds


@dataclass(frozen=True)
class Table:
    name: str
    key: str
    scalars: dict[str, Scalar]
    relations: dict[str, Relation] = field(default_factory=dict)
    guarded: Guarded | None = None


def _column(model: Any, attribute: str) -> str:
    return str(model.__table__.c[attribute].name)


def _scalars(model: Any, fields: dict[str, str], forms: dict[str, Form] | None = None
             ) -> dict[str, Scalar]:
    forms = forms or {}
    return {name: Scalar(_column(model, attribute), forms.get(name, Form.PLAIN))
            for name, attribute in fields.items()}


PERSON = Table(
    name=Person.__tablename__,
    key=_column(Person, "id"),
    scalars=_scalars(Person, {
        "id": "id", "nik": "nik", "name": "name", "sex": "sex", "birthDate": "birth_date",
        "birthPlace": "birth_place", "relation": "relation", "alive": "alive",
        "deathDate": "death_date",
    }, {"id": Form.ID, "alive": Form.BOOLEAN}),
    relations={
        "household": Relation("Household", False, _column(Household, "id"),
                              _column(Person, "household_id")),
        "enrollments": Relation("Enrollment", True, _column(Enrollment, "person_id"),
                                _column(Person, "id"),
                                (_column(Enrollment, "program"), _column(Enrollment, "id")),
                                agency_source_column=_column(Enrollment, "source")),
    },
    guarded=Guarded(_column(Person, "region_code"), _column(Person, "nik"),
                    guard.SUBJECT_KINDS["Person"]),
)

HOUSEHOLD = Table(
    name=Household.__tablename__,
    key=_column(Household, "id"),
    scalars=_scalars(Household, {
        "id": "id", "kk": "kk", "villageCode": "village_code", "address": "address",
        "desil": "desil",
    }, {"id": Form.ID}),
    relations={
        "members": Relation("Person", True, _column(Person, "household_id"),
                            _column(Household, "id"), (_column(Person, "id"),)),
        "head": Relation("Person", False, _column(Person, "id"),
                         _column(Household, "head_person_id")),
        "village": Relation("Region", False, _column(Region, "code"),
                            _column(Household, "village_code")),
    },
    guarded=Guarded(_column(Household, "village_code"), _column(Household, "kk"),
                    guard.SUBJECT_KINDS["Household"]),
)

ENROLLMENT = Table(
    name=Enrollment.__tablename__,
    key=_column(Enrollment, "id"),
    scalars=_scalars(Enrollment, {
        "program": "program", "status": "status", "cardNumber": "card_number",
        "periodStart": "period_start", "periodEnd": "period_end", "source": "source",
    }),
)

REGION = Table(
    name=Region.__tablename__,
    key=_column(Region, "code"),
    scalars=_scalars(Region, {"code": "code", "name": "name", "level": "level"}),
    relations={
        "parent": Relation("Region", False, _column(Region, "code"),
                           _column(Region, "parent_code")),
        "children": Relation("Region", True, _column(Region, "parent_code"),
                             _column(Region, "code"), (_column(Region, "code"),)),
    },
)

TABLES: dict[str, Table] = {"Person": PERSON, "Household": HOUSEHOLD,
                            "Enrollment": ENROLLMENT, "Region": REGION}
