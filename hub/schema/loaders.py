"""DataLoaders: every relation in the graph is fetched in one query per request level,
so a page of 100 households with members and enrollments costs the same few statements
as a page of 10."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.dataloader import DataLoader

from hub.db.engine import reader
from hub.db.models import Enrollment, Household, Person, Region, ServiceCase

# Keeps IN lists well under SQLite's and asyncpg's bound-parameter limits.
MAX_BATCH = 1000


async def fetch_all(
    engine: AsyncEngine, statement: Select[Any], parameters: dict[str, Any] | None = None
) -> Sequence[RowMapping]:
    async with reader(engine).connect() as connection:
        return (await connection.execute(statement, parameters)).mappings().all()


class Loaders:
    """Each loader is made on first use: most requests (a look-up by NIK) need none."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @cached_property
    def household(self) -> DataLoader[int, RowMapping | None]:
        return DataLoader(self._households, max_batch_size=MAX_BATCH)

    @cached_property
    def person(self) -> DataLoader[int, RowMapping | None]:
        return DataLoader(self._persons, max_batch_size=MAX_BATCH)

    @cached_property
    def members(self) -> DataLoader[int, list[RowMapping]]:
        return DataLoader(self._members, max_batch_size=MAX_BATCH)

    @cached_property
    def enrollments(self) -> DataLoader[int, list[RowMapping]]:
        return DataLoader(self._enrollments, max_batch_size=MAX_BATCH)

    @cached_property
    def region(self) -> DataLoader[str, RowMapping | None]:
        return DataLoader(self._regions, max_batch_size=MAX_BATCH)

    @cached_property
    def region_children(self) -> DataLoader[str, list[RowMapping]]:
        return DataLoader(self._region_children, max_batch_size=MAX_BATCH)

    @cached_property
    def service_case(self) -> DataLoader[int, RowMapping | None]:
        return DataLoader(self._service_cases, max_batch_size=MAX_BATCH)

    async def _by_key(self, table: Any, column: Any, keys: list[Any]) -> list[RowMapping | None]:
        rows = await fetch_all(self.engine, select(table).where(column.in_(keys)))
        found = {row[column.key]: row for row in rows}
        return [found.get(key) for key in keys]

    async def _grouped(
        self, table: Any, column: Any, order: tuple[Any, ...], keys: list[Any]
    ) -> list[list[RowMapping]]:
        # `order` ends with a unique column: a list's order never depends on the plan
        # (the read planner must give the same list, byte for byte).
        rows = await fetch_all(
            self.engine, select(table).where(column.in_(keys)).order_by(column, *order)
        )
        groups: dict[Any, list[RowMapping]] = defaultdict(list)
        for row in rows:
            groups[row[column.key]].append(row)
        return [groups.get(key, []) for key in keys]

    async def _households(self, ids: list[int]) -> list[RowMapping | None]:
        return await self._by_key(Household.__table__, Household.id, ids)

    async def _persons(self, ids: list[int]) -> list[RowMapping | None]:
        return await self._by_key(Person.__table__, Person.id, ids)

    async def _service_cases(self, ids: list[int]) -> list[RowMapping | None]:
        return await self._by_key(ServiceCase.__table__, ServiceCase.id, ids)

    async def _regions(self, codes: list[str]) -> list[RowMapping | None]:
        return await self._by_key(Region.__table__, Region.code, codes)

    async def _members(self, household_ids: list[int]) -> list[list[RowMapping]]:
        return await self._grouped(Person.__table__, Person.household_id, (Person.id,),
                                   household_ids)

    async def _enrollments(self, person_ids: list[int]) -> list[list[RowMapping]]:
        return await self._grouped(
            Enrollment.__table__, Enrollment.person_id, (Enrollment.program, Enrollment.id),
            person_ids
        )

    async def _region_children(self, codes: list[str]) -> list[list[RowMapping]]:
        return await self._grouped(Region.__table__, Region.parent_code, (Region.code,), codes)
