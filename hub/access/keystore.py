"""The hub's token signing keys, shared by every replica through the database."""

from __future__ import annotations

from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.crypto.jose import SigningKey, jwk
from hub.db.models import SigningKeyRow


class KeyStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._current: SigningKey | None = None
        self._public: dict[str, Ed25519PublicKey] = {}

    async def current(self) -> SigningKey:
        """The newest active key; the first call on a fresh database makes one."""
        if self._current is None:
            async with self.engine.connect() as conn:
                pem = (await conn.execute(select(SigningKeyRow.private_pem).where(
                    SigningKeyRow.retired_at.is_(None)).order_by(
                    SigningKeyRow.created_at.desc()).limit(1))).scalar_one_or_none()
            if pem is None:
                key = SigningKey.generate()
                try:
                    async with self.engine.begin() as conn:
                        await conn.execute(SigningKeyRow.__table__.insert().values(
                            kid=key.kid, private_pem=key.pem(), created_at=datetime.now(UTC)))
                except IntegrityError:  # another replica made one at the same moment
                    return await self.current()
                self._current = key
            else:
                self._current = SigningKey.from_pem(pem)
        return self._current

    async def public_keys(self, refresh: bool = False) -> dict[str, Ed25519PublicKey]:
        """Every key that may have signed a live token, by kid."""
        if refresh or not self._public:
            async with self.engine.connect() as conn:
                pems = (await conn.execute(select(SigningKeyRow.private_pem))).scalars().all()
            self._public = {key.kid: key.private.public_key()
                            for key in map(SigningKey.from_pem, pems)}
        return self._public

    async def jwks(self) -> dict[str, list[dict[str, str]]]:
        await self.current()
        return {"keys": [jwk(public) for public in (await self.public_keys(True)).values()]}
