"""The unified view's GraphQL types. Relations resolve through the request's DataLoaders."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import strawberry
from sqlalchemy import func, select, tuple_
from sqlalchemy.engine import RowMapping
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from hub.db.models import Household as HouseholdRow
from hub.schema import statistics
from hub.schema.arguments import household_page_args
from hub.schema.loaders import fetch_all
from hub.schema.pagination import encode_cursor
from hub.schema.statistics import in_regions

if TYPE_CHECKING:
    from hub.schema.context import HubContext
    from hub.schema.servicestats import ServiceStats

    HubInfo = Info[HubContext, None]
else:
    HubInfo = Info

T = TypeVar("T")


async def load_one(
    loader: DataLoader[Any, RowMapping | None], key: Any, make: Callable[[RowMapping], T]
) -> T | None:
    """The object behind a nullable foreign key, through the request's loader."""
    if key is None:
        return None
    row = await loader.load(key)
    return make(row) if row else None


@strawberry.type(description="A programme a person receives: KIS/PBI-JKN, KIP/PIP, PKH, BPNT...")
class Enrollment:
    program: str = strawberry.field(description="PBI_JKN, KIP_PIP, PKH, BPNT or BAZNAS.")
    status: str = strawberry.field(description="ACTIVE, INACTIVE or SUSPENDED.")
    card_number: str | None
    period_start: date | None
    period_end: date | None
    source: str = strawberry.field(description="The agency whose record says so.")

    @classmethod
    def from_row(cls, row: RowMapping) -> Enrollment:
        return cls(
            program=row["program"], status=row["status"], card_number=row["card_number"],
            period_start=row["period_start"], period_end=row["period_end"], source=row["source"],
        )


@strawberry.type(description="Where a golden field's value came from: the source record "
                 "that won under the survivorship rules, and when it was seen.")
class LineageEntry:
    field: str = strawberry.field(description="camelCase field name: name, birthDate, desil...")
    source: str
    source_key: str
    record_id: strawberry.ID
    seen_at: str | None


def lineage_entries(lineage: dict[str, Any] | None) -> list[LineageEntry]:
    def camel(name: str) -> str:
        head, *rest = name.split("_")
        return head + "".join(part.title() for part in rest)

    return [
        LineageEntry(field=camel(name), source=entry.get("source", ""),
                     source_key=str(entry.get("source_key", "")),
                     record_id=strawberry.ID(str(entry.get("record_id", ""))),
                     seen_at=entry.get("seen_at"))
        for name, entry in sorted((lineage or {}).items())
    ]


@strawberry.type(description="A person in the unified registry (golden record).")
class Person:
    id: strawberry.ID
    nik: str | None = strawberry.field(description="16-digit NIK; null when none is known.")
    name: str
    sex: str | None = strawberry.field(description="M or F.")
    birth_date: date | None
    birth_place: str | None
    relation: str | None = strawberry.field(
        description="Relation to the household head: HEAD, SPOUSE, CHILD, PARENT, ..."
    )
    alive: bool
    death_date: date | None
    household_id: strawberry.Private[int | None]
    raw_lineage: strawberry.Private[dict[str, Any] | None] = None
    region_code: strawberry.Private[str | None] = None

    @classmethod
    def from_row(cls, row: RowMapping) -> Person:
        return cls(
            id=strawberry.ID(str(row["id"])), nik=row["nik"], name=row["name"], sex=row["sex"],
            birth_date=row["birth_date"], birth_place=row["birth_place"],
            relation=row["relation"], alive=row["alive"], death_date=row["death_date"],
            household_id=row["household_id"], raw_lineage=row.get("lineage"),
            region_code=row.get("region_code"),
        )

    @strawberry.field(description="For each golden field, the agency record it came from.")
    def lineage(self) -> list[LineageEntry]:
        return lineage_entries(self.raw_lineage)

    @strawberry.field(description="The household (KK) the person belongs to.")
    async def household(self, info: HubInfo) -> Annotated[Household, strawberry.lazy(
        "hub.schema.types")] | None:
        return await load_one(info.context.loaders.household, self.household_id,
                              Household.from_row)

    @strawberry.field(description="Programmes the person is enrolled in.")
    async def enrollments(self, info: HubInfo) -> list[Enrollment]:
        rows = await info.context.loaders.enrollments.load(int(self.id))
        return [Enrollment.from_row(row) for row in rows]


@strawberry.type(description="A household, identified by its family card (KK) number.")
class Household:
    id: strawberry.ID
    kk: str | None
    village_code: str
    address: str | None
    desil: int | None = strawberry.field(description="Welfare decile, 1 = poorest tenth.")
    head_person_id: strawberry.Private[int | None]
    raw_lineage: strawberry.Private[dict[str, Any] | None] = None

    @classmethod
    def from_row(cls, row: RowMapping) -> Household:
        return cls(
            id=strawberry.ID(str(row["id"])), kk=row["kk"], village_code=row["village_code"],
            address=row["address"], desil=row["desil"], head_person_id=row["head_person_id"],
            raw_lineage=row.get("lineage"),
        )

    @strawberry.field(description="For each golden field (KK, desil, village, address), "
                      "the agency record it came from.")
    def lineage(self) -> list[LineageEntry]:
        return lineage_entries(self.raw_lineage)

    @strawberry.field(description="Members, head first by registration order.")
    async def members(self, info: HubInfo) -> list[Person]:
        rows = await info.context.loaders.members.load(int(self.id))
        return [Person.from_row(row) for row in rows]

    @strawberry.field
    async def head(self, info: HubInfo) -> Person | None:
        return await load_one(info.context.loaders.person, self.head_person_id, Person.from_row)

    @strawberry.field
    async def village(self, info: HubInfo) -> Annotated[Region, strawberry.lazy(
        "hub.schema.types")] | None:
        return await load_one(info.context.loaders.region, self.village_code, Region.from_row)


@strawberry.type
class HouseholdEdge:
    cursor: str
    node: Household


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type(description="A page of households; follow pageInfo.endCursor for the next.")
class HouseholdConnection:
    edges: list[HouseholdEdge]
    page_info: PageInfo
    count_query: strawberry.Private[statistics.CountQuery]

    @strawberry.field(description="All households matching the filter (one COUNT query).")
    async def total_count(self, info: HubInfo) -> int:
        return await self.count_query(info.context.engine)


@strawberry.type
class DesilCount:
    desil: int | None
    households: int
    persons: int


@strawberry.type(description="How many people a programme reaches in the region.")
class ProgramCoverage:
    program: str
    enrolled_persons: int
    enrolled_households: int
    poor_persons: int = strawberry.field(description="Living persons in desil 1-4.")
    poor_enrolled: int = strawberry.field(description="Of those, enrolled and active.")

    @strawberry.field(description="poorEnrolled / poorPersons, 0 when there are none.")
    def coverage_of_poor(self) -> float:
        return self.poor_enrolled / self.poor_persons if self.poor_persons else 0.0


@strawberry.type
class RegionStatistics:
    households: int
    persons: int = strawberry.field(description="Living persons.")
    per_desil: list[DesilCount]
    coverage: list[ProgramCoverage]


@strawberry.type(description="A Kemendagri region: province, regency, district or village.")
class Region:
    code: str
    name: str
    level: str
    parent_code: strawberry.Private[str | None]

    @classmethod
    def from_row(cls, row: RowMapping) -> Region:
        return cls(
            code=row["code"], name=row["name"], level=row["level"],
            parent_code=row["parent_code"],
        )

    @strawberry.field
    async def parent(self, info: HubInfo) -> Region | None:
        return await load_one(info.context.loaders.region, self.parent_code, Region.from_row)

    @strawberry.field
    async def children(self, info: HubInfo) -> list[Region]:
        rows = await info.context.loaders.region_children.load(self.code)
        return [Region.from_row(row) for row in rows]

    @strawberry.field(description="Households in the region (any level), optionally of one "
                      "desil, in pages: pass pageInfo.endCursor as `after` for the next.")
    async def households(self, info: HubInfo, desil: int | None = None,
                         first: int | None = None, after: str | None = None
                         ) -> HouseholdConnection:
        return await household_page(info, self.code, desil, first, after)

    @strawberry.field(description="The SLRT desk's figures in the region (cases registered "
                      "from `since` until `until`, when given).")
    async def service_stats(self, info: HubInfo, since: datetime | None = None,
                            until: datetime | None = None) -> Annotated[
            ServiceStats, strawberry.lazy("hub.schema.servicestats")]:
        from hub.schema.servicestats import ServiceStats
        from hub.services.stats import service_figures

        codes = info.context.principal.scope.within(self.code)
        return ServiceStats.of(await service_figures(info.context.engine, codes, since,
                                                     until))

    @strawberry.field(description="Households, persons and programme coverage in the region.")
    async def statistics(self, info: HubInfo) -> RegionStatistics:
        # A district asking about its province sees its own part of it, no more.
        codes = info.context.principal.scope.within(self.code)
        stats = await statistics.region_statistics(info.context.engine, codes)
        return RegionStatistics(
            households=stats.households,
            persons=stats.persons,
            per_desil=[DesilCount(desil=d, households=h, persons=p)
                       for d, h, p in stats.per_desil],
            coverage=[ProgramCoverage(program=c.program, enrolled_persons=c.enrolled_persons,
                                      enrolled_households=c.enrolled_households,
                                      poor_persons=stats.poor_persons,
                                      poor_enrolled=c.poor_enrolled)
                      for c in stats.coverage],
        )



async def household_page(info: HubInfo, code: str, desil: int | None, first: int | None,
                         after: str | None) -> HouseholdConnection:
    """A page of the households under `code` that the client may see."""
    limit, start = household_page_args(desil, first, after,
                                       info.context.settings.server.max_page_size)
    conditions = [in_regions(info.context.principal.scope.within(code))]
    if desil is not None:
        conditions.append(HouseholdRow.desil == desil)
    order = (HouseholdRow.village_code, HouseholdRow.id)
    statement = select(HouseholdRow.__table__).where(*conditions)
    if start is not None:
        statement = statement.where(tuple_(*order) > tuple_(*start))
    rows = await fetch_all(info.context.engine, statement.order_by(*order).limit(limit + 1))
    edges = [
        HouseholdEdge(
            cursor=encode_cursor("household", [row["village_code"], row["id"]]),
            node=Household.from_row(row),
        )
        for row in rows[:limit]
    ]

    async def count(engine):
        query = select(func.count()).select_from(HouseholdRow).where(*conditions)
        async with engine.connect() as connection:
            return int((await connection.execute(query)).scalar_one())

    return HouseholdConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(rows) > limit,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        count_query=count,
    )
