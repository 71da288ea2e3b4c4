"""Trusted documents (persisted operations): GraphQL operations registered ahead of
time and run by their SHA-256 hash. A PARTNER client may run only these, so what a
partner can ask is reviewed once, when the operation is registered, not per request.

Requests name a document as GraphQL-over-HTTP's `documentId: "sha256:<hex>"` or as
Apollo's `extensions.persistedQuery.sha256Hash`; a query text whose hash is registered
counts as that document.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from graphql import GraphQLError, OperationDefinitionNode, parse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.db.models import TrustedDocument


def document_hash(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


def hash_of_id(document_id: str) -> str | None:
    """The hex digest in `sha256:<hex>` (or a bare hex digest); None if malformed."""
    digest = document_id.removeprefix("sha256:").lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        return None
    return digest


@dataclass(frozen=True, slots=True)
class Registered:
    hash: str
    name: str


def operation_name(query: str) -> str:
    """The document's first named operation, to list it by; checks it parses."""
    try:
        document = parse(query)
    except GraphQLError as error:
        raise ValueError(f"not a GraphQL document: {error.message}") from None
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode) and definition.name:
            return definition.name.value
    return "anonymous"


class DocumentStore:
    """Registered documents, remembered once read (they never change under a hash)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._known: dict[str, str] = {}

    async def register(self, query: str, name: str | None = None) -> Registered:
        digest = document_hash(query)
        label = name or operation_name(query)
        async with self.engine.begin() as conn:
            exists = (await conn.execute(select(TrustedDocument.hash).where(
                TrustedDocument.hash == digest))).first()
            if exists is None:
                await conn.execute(TrustedDocument.__table__.insert().values(
                    hash=digest, name=label, query=query))
        self._known[digest] = query
        return Registered(digest, label)

    async def get(self, digest: str) -> str | None:
        query = self._known.get(digest)
        if query is None:
            async with self.engine.connect() as conn:
                query = (await conn.execute(select(TrustedDocument.query).where(
                    TrustedDocument.hash == digest))).scalar_one_or_none()
            if query is not None:
                self._known[digest] = query
        return query

    async def list(self) -> list[Registered]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(TrustedDocument.hash, TrustedDocument.name)
                                       .order_by(TrustedDocument.name))).all()
        return [Registered(r.hash, r.name) for r in rows]
