"""The API client register: create, list, rotate, revoke, and authenticate a key.

Authentication runs on every request, so a verified key is remembered for a few
seconds (`[access] auth_cache_seconds`): a revoked or rotated key stops working
within that time on every replica, without a database round trip per request.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.access import keys
from hub.access.roles import Principal, Role
from hub.db.models import ApiClient
from hub.domain.regions import InvalidRegionCode, normalize_region_code


class ClientError(ValueError):
    """A register request that cannot be carried out; the message says why."""


@dataclass(frozen=True, slots=True)
class ClientInfo:
    id: int
    name: str
    role: Role
    regions: tuple[str, ...]
    agency: str | None
    legal_basis: str
    purpose: str
    rate_per_minute: int | None
    created_at: datetime
    rotated_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _info(row: ApiClient) -> ClientInfo:
    return ClientInfo(row.id, row.name, Role(row.role), tuple(row.regions or ()), row.agency,
                      row.legal_basis, row.purpose, row.rate_per_minute, row.created_at,
                      row.rotated_at, row.revoked_at)


def principal_of(row: ApiClient) -> Principal:
    return Principal(client_id=row.id, name=row.name, role=Role(row.role),
                     regions=tuple(row.regions or ()), legal_basis=row.legal_basis,
                     purpose=row.purpose, agency=row.agency,
                     rate_per_minute=row.rate_per_minute)


def validate_registration(role: Role, regions: Sequence[str], agency: str | None,
                          legal_basis: str, purpose: str) -> tuple[str, ...]:
    """The rules a client's registration must meet; returns the normalised regions."""
    if not legal_basis.strip():
        raise ClientError("a legal basis is required (UU PDP art. 20), e.g. "
                          "'Permensos 15/2018 (SLRT)' or 'consent'")
    if not purpose.strip():
        raise ClientError("a purpose is required (UU PDP art. 20)")
    try:
        codes = tuple(sorted({normalize_region_code(code) for code in regions}))
    except InvalidRegionCode as error:
        raise ClientError(f"bad region: {error}") from None
    if role is not Role.NATIONAL and not codes:
        raise ClientError(f"a {role.value} client needs at least one region")
    if role is Role.AGENCY and not agency:
        raise ClientError("an AGENCY client needs --agency (its connector: bpjs, "
                          "education, dukcapil, baznas, dtks)")
    if role is not Role.AGENCY and agency:
        raise ClientError("only AGENCY clients have an agency")
    return codes


class ClientStore:
    def __init__(self, engine: AsyncEngine, cache_seconds: float = 5.0) -> None:
        self.engine = engine
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Principal | None]] = {}

    async def create(self, name: str, role: Role, *, regions: Sequence[str] = (),
                     agency: str | None = None, legal_basis: str, purpose: str,
                     rate_per_minute: int | None = None) -> tuple[ClientInfo, str]:
        """Register a client; returns it and its key, which is never shown again."""
        codes = validate_registration(role, regions, agency, legal_basis, purpose)
        issued = keys.issue()
        values = {"name": name, "role": role.value, "regions": list(codes), "agency": agency,
                  "legal_basis": legal_basis.strip(), "purpose": purpose.strip(),
                  "key_id": issued.key_id, "key_hash": issued.digest,
                  "rate_per_minute": rate_per_minute}
        try:
            async with self.engine.begin() as conn:
                saved = (await conn.execute(ApiClient.__table__.insert().values(values)
                                            .returning(*ApiClient.__table__.c))).mappings().one()
        except IntegrityError:
            raise ClientError(f"a client named {name!r} exists already") from None
        return _info(ApiClient(**saved)), issued.key

    async def list(self) -> list[ClientInfo]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(ApiClient.__table__).order_by(ApiClient.id))
                    ).mappings().all()
        return [_info(ApiClient(**row)) for row in rows]

    async def rotate(self, name: str) -> str:
        """A new key for the client; the old one stops working at once here and within
        the cache time on other replicas."""
        issued = keys.issue()
        await self._change(name, key_id=issued.key_id, key_hash=issued.digest,
                           rotated_at=datetime.now(UTC))
        return issued.key

    async def revoke(self, name: str) -> None:
        await self._change(name, revoked_at=datetime.now(UTC))

    async def _change(self, name: str, **values: object) -> None:
        async with self.engine.begin() as conn:
            result = await conn.execute(update(ApiClient).where(
                ApiClient.name == name, ApiClient.revoked_at.is_(None)).values(**values))
        if result.rowcount == 0:
            raise ClientError(f"no active client named {name!r}")
        self._cache.clear()

    async def authenticate(self, key: str) -> Principal | None:
        """The client a key belongs to, or None for an unknown, revoked or malformed key."""
        return await self._cached(key, lambda: self._by_key(key))

    async def by_id(self, client_id: int) -> Principal | None:
        """An active client by id (for work it queued earlier), cached like a key."""
        return await self._cached(f"id:{client_id}",
                                  lambda: self._active(ApiClient.id == client_id))

    async def by_token(self, client_id: int, key_id: str) -> Principal | None:
        """An active client by id whose current key is `key_id` (for a token that names
        both: a rotated key ends the tokens traded for it), cached like a key."""
        if not 0 < client_id < 2**63:
            return None
        return await self._cached(f"id:{client_id}:{key_id}", lambda: self._active(
            (ApiClient.id == client_id) & (ApiClient.key_id == key_id)))

    async def _cached(self, cache_key: str,
                      load: Callable[[], Awaitable[Principal | None]]) -> Principal | None:
        now = time.monotonic()
        cached = self._cache.get(cache_key)
        if cached is not None and cached[0] > now:
            return cached[1]
        principal = await load()
        if len(self._cache) > 10_000:  # a flood of made-up keys must not grow it forever
            self._cache.clear()
        self._cache[cache_key] = (now + self.cache_seconds, principal)
        return principal

    async def _by_key(self, key: str) -> Principal | None:
        key_id = keys.key_id_of(key)
        if key_id is None:
            return None
        return await self._active(ApiClient.key_id == key_id, key)

    async def _active(self, where: Any, key: str | None = None) -> Principal | None:
        """The unrevoked client the condition finds; with a key, only if it matches."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(ApiClient.__table__).where(where))
                   ).mappings().first()
        if row is None or row["revoked_at"] is not None:
            return None
        if key is not None and not keys.matches(key, row["key_hash"]):
            return None
        return principal_of(ApiClient(**row))
