"""`auditTrail(nik)`: who has seen a person's data, when and why (UU PDP: a data
subject may ask, and must be answered within 3x24 hours)."""

from __future__ import annotations

from typing import Any

import strawberry
from sqlalchemy import select

from hub.access import audit
from hub.db.models import Person as PersonRow
from hub.errors import NotFoundError
from hub.schema.arguments import valid_nik
from hub.schema.loaders import fetch_all
from hub.schema.types import HubInfo


@strawberry.type(description="One audited access to a person's data.")
class AuditAccess:
    id: strawberry.ID
    at: str = strawberry.field(description="When, ISO 8601 in UTC.")
    client: str = strawberry.field(description="The API client that read or changed it.")
    role: str
    legal_basis: str | None
    purpose: str | None
    operation_type: str = strawberry.field(description="query or mutation.")
    operation: str | None
    fields: list[str] = strawberry.field(description="The personal-data fields the "
                                         "request selected, as Type.field.")
    outcome: str | None = strawberry.field(description="ok, errors, or refused (the request "
                                           "was not allowed, or the person was withheld "
                                           "from a client outside their region).")

    @classmethod
    def from_entry(cls, entry: dict[str, Any]) -> AuditAccess:
        return cls(id=strawberry.ID(str(entry["id"])), at=entry["at"], client=entry["client"],
                   role=entry["role"], legal_basis=entry.get("legal_basis"),
                   purpose=entry.get("purpose"), operation_type=entry["operation_type"],
                   operation=entry.get("operation"), fields=list(entry.get("fields") or ()),
                   outcome=entry.get("outcome"))


@strawberry.type
class AuditQuery:
    @strawberry.field(description="Every audited access to the data of the person with "
                      "this NIK, oldest first. A district sees it for persons in its region.")
    async def audit_trail(self, info: HubInfo, nik: str) -> list[AuditAccess]:
        number = valid_nik(nik)
        rows = await fetch_all(info.context.engine, select(PersonRow.id, PersonRow.region_code)
                               .where(PersonRow.nik == number))
        scope = info.context.principal.scope
        if not any(scope.allows(row["region_code"]) for row in rows) and not (
                scope.everywhere):
            raise NotFoundError("no person with this NIK in this client's regions")
        for row in rows:
            info.context.audit.note("person", row["id"], number)
        return [AuditAccess.from_entry(e) for e in await audit.trail(info.context.engine,
                                                                       number)]
