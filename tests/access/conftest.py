from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.access.roles import Role
from hub.app import create_app
from hub.config import HubSettings
from hub.db.models import Household, Person
from tests.schema.helpers import GraphQLClient, make_client


@dataclass
class Hub:
    """One app over a database, and clients of any role talking to it."""

    settings: HubSettings
    engine: AsyncEngine
    app: Any
    clients: list[GraphQLClient] = field(default_factory=list)

    async def client(self, role: Role, regions: tuple[str, ...] = (),
                     agency: str | None = None) -> GraphQLClient:
        client = await make_client(self.settings, self.engine, role, regions, agency,
                                   app=self.app)
        self.clients.append(client)
        return client

    async def flush_audit(self) -> None:
        await self.app.state.audit.flush()

    async def close(self) -> None:
        for client in self.clients:
            await client.aclose()
        await self.app.state.audit.close()


async def open_hub(settings: HubSettings, engine: AsyncEngine) -> Hub:
    return Hub(settings, engine, create_app(settings, engine=engine))


@pytest.fixture
async def hub(settings_for: HubSettings, loaded_engine: AsyncEngine) -> AsyncIterator[Hub]:
    opened = await open_hub(settings_for, loaded_engine)
    yield opened
    await opened.close()


async def people_in(engine: AsyncEngine, district: str, limit: int = 3) -> list[Any]:
    """Persons (with their household's KK) whose region lies under `district`."""
    async with engine.connect() as conn:
        return (await conn.execute(
            select(Person.id, Person.nik, Person.name, Person.household_id, Person.region_code,
                   Household.kk)
            .join(Household, Household.id == Person.household_id)
            .where(Person.region_code.like(f"{district}.%"), Person.nik.is_not(None))
            .order_by(Person.id).limit(limit))).all()
