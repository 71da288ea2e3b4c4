"""The hub's golden households and persons in the DCI social registry's `Group` and
`Member` shapes, pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

SEX = {"M": "male", "F": "female"}


def _identifier(kind: str, value: str) -> dict[str, str]:
    return {"@type": "Identifier", "identifier_type": kind, "identifier_value": value}


def _iso(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return None


def member(person: Mapping[str, Any]) -> dict[str, Any]:
    demographic: dict[str, Any] = {"name": {"given_name": person["name"]}}
    if person.get("sex") in SEX:
        demographic["sex"] = SEX[person["sex"]]
    if person.get("birth_date"):
        demographic["birth_date"] = _iso(person["birth_date"])
    if person.get("birth_place"):
        demographic["birth_place"] = person["birth_place"]
    record: dict[str, Any] = {
        "@type": "Member",
        "@id": f"urn:slrt-hub:person:{person['id']}",
        "member_identifier": [_identifier("NIK", person["nik"])] if person.get("nik") else [],
        "demographic_info": demographic,
        "is_alive": bool(person.get("alive", True)),
    }
    if person.get("relation"):
        record["relationship_to_head"] = str(person["relation"]).lower()
    if person.get("death_date"):
        record["death_date"] = _iso(person["death_date"])
    return record


def group(household: Mapping[str, Any], members: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    identifiers = []
    if household.get("kk"):
        identifiers.append(_identifier("KK", household["kk"]))
    if household.get("dtks_id"):
        identifiers.append(_identifier("DTKS", household["dtks_id"]))
    listed = [member(p) for p in members]
    head = next((m for m, p in zip(listed, members, strict=True)
                 if p["id"] == household.get("head_person_id")), None)
    record: dict[str, Any] = {
        "@type": "Group",
        "@id": f"urn:slrt-hub:household:{household['id']}",
        "group_identifier": identifiers,
        "group_type": "family",
        "group_size": len(listed),
        "place": {"@type": "Place", "address": household.get("address") or "",
                  "region_code": household["village_code"]},
        "member_list": listed,
    }
    if household.get("desil") is not None:
        record["poverty_score"] = household["desil"]
        record["poverty_score_type"] = "desil"
    if head is not None:
        record["group_head_info"] = head
    if household.get("updated_at"):
        record["last_updated"] = _iso(household["updated_at"])
    return record
