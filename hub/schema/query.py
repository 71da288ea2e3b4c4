"""Root query: look-ups by the keys agencies hold (NIK, KK, region code) and pages."""

from __future__ import annotations

from typing import Any

import strawberry
from sqlalchemy import RowMapping, Select, bindparam, func, select

from hub.db.models import Household as HouseholdRow
from hub.db.models import Person as PersonRow
from hub.db.models import Region as RegionRow
from hub.domain.provinces import lookup_range
from hub.schema.arguments import valid_kk, valid_nik, valid_region
from hub.schema.loaders import fetch_all
from hub.schema.types import (
    Household,
    HouseholdConnection,
    HubInfo,
    Person,
    Region,
    household_page,
)

# Built once: SQLAlchemy then reuses the compiled form instead of rebuilding and
# re-keying the statement on every request (the hottest query of the API).
PERSON_BY_NIK = (
    select(PersonRow.__table__)
    .where(PersonRow.nik == bindparam("nik"))
    .order_by(PersonRow.id)
    .limit(1)
)
HOUSEHOLD_BY_KK = (
    select(HouseholdRow.__table__)
    .where(HouseholdRow.kk == bindparam("kk"))
    .order_by(HouseholdRow.id)
    .limit(1)
)
# A registry partitioned by province: the number's province first (one partition).
PERSON_BY_NIK_IN_PROVINCE = PERSON_BY_NIK.where(PersonRow.id >= bindparam("low"),
                                                PersonRow.id < bindparam("high"))
HOUSEHOLD_BY_KK_IN_PROVINCE = HOUSEHOLD_BY_KK.where(HouseholdRow.id >= bindparam("low"),
                                                    HouseholdRow.id < bindparam("high"))


async def _first_by_number(info: HubInfo, statement: Select[Any], in_province: Select[Any],
                           name: str, number: str) -> RowMapping | None:
    """The first row by NIK or KK; on a registry partitioned by province, looked for in
    the number's own partition before all of them (`hub.domain.provinces`)."""
    engine = info.context.engine
    if info.context.settings.database.by_province:
        low, high = lookup_range(number)
        rows = await fetch_all(engine, in_province, {name: number, "low": low, "high": high})
        if rows:
            return rows[0]
    rows = await fetch_all(engine, statement, {name: number})
    return rows[0] if rows else None


@strawberry.type
class RegistryQuery:
    @strawberry.field(description="A person by NIK. An invalid NIK is an error saying why.")
    async def person(self, info: HubInfo, nik: str) -> Person | None:
        row = await _first_by_number(info, PERSON_BY_NIK, PERSON_BY_NIK_IN_PROVINCE, "nik",
                                     valid_nik(nik))
        return Person.from_row(row) if row else None

    @strawberry.field(description="A household by its 16-digit KK number.")
    async def household(self, info: HubInfo, kk: str) -> Household | None:
        row = await _first_by_number(info, HOUSEHOLD_BY_KK, HOUSEHOLD_BY_KK_IN_PROVINCE, "kk",
                                     valid_kk(kk))
        return Household.from_row(row) if row else None

    @strawberry.field(
        description="Households in a region (any level), optionally of one desil, "
        "in pages: pass pageInfo.endCursor as `after` for the next."
    )
    async def households(
        self,
        info: HubInfo,
        region: str,
        desil: int | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> HouseholdConnection:
        return await household_page(info, valid_region(region, "region"), desil, first,
                                    after)

    @strawberry.field(description="A region by Kemendagri code: 33, 33.14, 33.14.01, ...")
    async def region(self, info: HubInfo, code: str) -> Region | None:
        row = await info.context.loaders.region.load(valid_region(code, "code"))
        return Region.from_row(row) if row else None

    @strawberry.field(description="Regencies (kabupaten/kota) this hub holds data for.")
    async def regencies(self, info: HubInfo) -> list[Region]:
        with_households = select(func.substr(HouseholdRow.village_code, 1, 5)).distinct()
        visible = info.context.principal.scope.condition(HouseholdRow.village_code)
        if visible is not None:
            with_households = with_households.where(visible)
        statement = (
            select(RegionRow.__table__)
            .where(RegionRow.code.in_(with_households))
            .order_by(RegionRow.code)
        )
        return [Region.from_row(row) for row in await fetch_all(info.context.engine, statement)]


