"""IBR enrolment updates pushed by a programme's system (`/registry/sync/enrollment/
updates`), staged like any agency's records: a beneficiary that breaks the shape is
kept in quarantine with its reason, a valid one waits for the next reconciliation,
which links it to a person and applies its enrolment if the programme is one
`[survivorship.programs]` gives to this source.

The spec gives a Beneficiary only by example: `member.demographic_info.person` (the
identifier, name, sex and birth date) and `member.programme_identifier` (the programme,
the enrolment status and date). Those are what is read; the rest is kept raw.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hub.connectors.base import Page, Stream
from hub.connectors.http import AgencyClient
from hub.connectors.mapping import OptionalDateText, identity, parse_date

SOURCE = "ibr"
ACTIVE = {"active", "enrolled", "aktif"}


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Name(_Open):
    first_name: str | None = None
    second_name: str | None = None
    surname: str | None = None


class DemographicPerson(_Open):
    identifier_type: str
    identifier_value: str = Field(min_length=1)
    name: Name | str
    sex: str | None = None
    birth_date: OptionalDateText = None

    @field_validator("identifier_type")
    @classmethod
    def _nik(cls, value: str) -> str:
        if value.rsplit(":", 1)[-1].upper() not in ("NIK", "NID", "UIN"):
            raise ValueError("the hub links beneficiaries by NIK (identifier_type NIK)")
        return value


class Demographic(_Open):
    person: DemographicPerson


class Programme(_Open):
    programme_identifier: str = Field(min_length=1)
    programme_name: str | None = None


class ProgrammeEnrolment(_Open):
    programme: Programme
    enrolment_date: OptionalDateText = None
    enrolment_status: str = Field(min_length=1)


class Member(_Open):
    member_identifier: str | None = None
    demographic_info: Demographic
    programme_identifier: ProgrammeEnrolment


class Beneficiary(_Open):
    member: Member


def _dig(value: Any, *path: str) -> Any:
    """The value at `path` through nested objects; None where any step is not an object
    (a partner may send a string where the spec has an object)."""
    for step in path:
        if not isinstance(value, dict):
            return None
        value = value.get(step)
    return value


def _name(name: Name | str) -> str:
    if isinstance(name, str):
        return name.strip()
    return " ".join(part.strip() for part in (name.first_name, name.second_name,
                                              name.surname) if part and part.strip())


def _sex(value: str | None) -> str | None:
    if not value:
        return None
    return {"m": "M", "male": "M", "l": "M", "f": "F", "female": "F", "p": "F"}.get(
        value.strip().lower())


class EnrolmentUpdates(Stream):
    """Pushed, never pulled: `fetch` has nothing to read."""

    name = "enrollment_updates"
    source = SOURCE
    model = Beneficiary

    def __init__(self, sender_id: str) -> None:
        self.sender_id = sender_id

    def key(self, raw: dict[str, Any]) -> str | None:
        who = _dig(raw, "member", "member_identifier") or _dig(
            raw, "member", "demographic_info", "person", "identifier_value")
        programme = _dig(raw, "member", "programme_identifier", "programme",
                          "programme_identifier")
        if not who or not programme or isinstance(who, dict | list) \
                or isinstance(programme, dict | list):
            return None
        return f"{self.sender_id}:{str(programme).upper()}:{who}"[:80]

    def normalize(self, record: BaseModel) -> dict[str, Any]:
        assert isinstance(record, Beneficiary)
        person = record.member.demographic_info.person
        enrolment = record.member.programme_identifier
        status = "ACTIVE" if enrolment.enrolment_status.strip().lower() in ACTIVE \
            else "INACTIVE"
        return identity(
            person.identifier_value, _name(person.name) or None,
            parse_date(person.birth_date), _sex(person.sex),
            program=enrolment.programme.programme_identifier.strip().upper(),
            status=status, status_reason=enrolment.enrolment_status,
            card_number=record.member.member_identifier,
            aid_date=(d.isoformat() if (d := parse_date(enrolment.enrolment_date)) else None),
            reported_by=self.sender_id)

    async def fetch(self, client: AgencyClient, cursor: str | None) -> Page:
        return Page([], cursor, False)
