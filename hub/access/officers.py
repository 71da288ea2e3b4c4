"""Officers of the desk console: accounts, passwords, lock-out and sessions.

An officer belongs to an API client and acts with its role and regions: the console
reaches the registry through the same access layer as the client's API key, with the
officer's username added to every audit entry and to every step of a referral (the
four-eyes rule compares signed-in officers, not typed names).

Passwords are argon2id hashes (argon2-cffi's defaults, re-hashed when they change).
After `max_failures` wrong passwords in a row the account is locked for
`lockout_minutes`; an unknown username costs the same hash as a known one, so timing
does not tell which usernames exist.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import RowMapping, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.access.clients import ClientStore
from hub.access.roles import Principal, Role
from hub.db.models import ApiClient, Officer, OfficerSession
from hub.domain.dates import as_utc


class DeskKind(StrEnum):
    """Which desk an officer works; it decides the console's pages, not the data the
    officer may read (that is the client's role and regions)."""

    FRONT = "FRONT"  # front office: find, register a case, print the ticket
    BACK = "BACK"  # back office: the case queue, recommending referrals
    MANAGER = "MANAGER"  # SLRT manager: approvals, escalations, the dashboard
    STEWARD = "STEWARD"  # data steward: review tasks, findings, merge and split
    AGENCY = "AGENCY"  # an agency's desk: referrals addressed to it


class OfficerError(ValueError):
    """An officer request that cannot be carried out; the message says why."""


USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,59}$")
MIN_PASSWORD = 10
_hasher = PasswordHasher()
# Verified against when the username is unknown, so a miss costs what a hit costs.
_DECOY = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True, slots=True)
class OfficerInfo:
    id: int
    username: str
    full_name: str
    client_id: int
    client: str
    desk: DeskKind
    active: bool
    locked_until: datetime | None


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A live session: who, acting as which client, and the form token."""

    officer: OfficerInfo
    principal: Principal
    csrf: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class SignInRefused:
    reason: str  # "wrong" (user or password) or "locked"
    locked_until: datetime | None = None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise OfficerError(f"a password needs at least {MIN_PASSWORD} characters")
    if len(password) > 200:
        raise OfficerError("a password has at most 200 characters")


def desk_fits(desk: DeskKind, role: Role) -> bool:
    """An agency's desk works for an AGENCY client; the SLRT desks for a district,
    facilitator or national client; nobody works the console for a PARTNER."""
    if role is Role.PARTNER:
        return False
    return (desk is DeskKind.AGENCY) == (role is Role.AGENCY)


class OfficerStore:
    def __init__(self, engine: AsyncEngine, clients: ClientStore, *,
                 session_minutes: int = 480, max_failures: int = 5,
                 lockout_minutes: int = 15) -> None:
        self.engine = engine
        self.clients = clients
        self.session_time = timedelta(minutes=session_minutes)
        self.max_failures = max_failures
        self.lockout = timedelta(minutes=lockout_minutes)

    async def create(self, username: str, full_name: str, client: str, desk: DeskKind,
                     password: str) -> OfficerInfo:
        username = username.strip().lower()
        if not USERNAME.match(username):
            raise OfficerError("a username is 2-60 lowercase letters, digits, '.', '_' "
                               "or '-', starting with a letter or digit")
        if not full_name.strip():
            raise OfficerError("the officer's full name is required")
        check_password(password)
        async with self.engine.begin() as conn:
            owner = (await conn.execute(select(ApiClient.id, ApiClient.role).where(
                ApiClient.name == client, ApiClient.revoked_at.is_(None)))).first()
            if owner is None:
                raise OfficerError(f"no active client named {client!r}")
            if not desk_fits(desk, Role(owner.role)):
                raise OfficerError(
                    f"a {desk.value} desk cannot work for a {owner.role} client "
                    "(AGENCY desks belong to AGENCY clients; the SLRT desks to DISTRICT, "
                    "FACILITATOR or NATIONAL clients; PARTNER clients have no console)")
            try:
                await conn.execute(Officer.__table__.insert().values(
                    username=username, full_name=full_name.strip()[:120],
                    client_id=owner.id, desk=desk.value,
                    password_hash=_hasher.hash(password), failed_attempts=0, active=True))
            except IntegrityError:
                raise OfficerError(f"an officer named {username!r} exists already") from None
        return await self.get(username)

    async def get(self, username: str) -> OfficerInfo:
        found = [o for o in await self.list() if o.username == username.strip().lower()]
        if not found:
            raise OfficerError(f"no officer named {username!r}")
        return found[0]

    async def list(self) -> list[OfficerInfo]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(
                select(Officer.__table__, ApiClient.name.label("client"))
                .join(ApiClient, ApiClient.id == Officer.client_id)
                .order_by(Officer.username))).mappings().all()
        return [_info(row) for row in rows]

    async def set_password(self, username: str, password: str) -> None:
        check_password(password)
        await self._change(username, password_hash=_hasher.hash(password),
                           failed_attempts=0, locked_until=None)

    async def unlock(self, username: str) -> None:
        await self._change(username, failed_attempts=0, locked_until=None)

    async def disable(self, username: str) -> None:
        """No more sign-ins, and every open session of the officer ends now."""
        officer = await self.get(username)
        await self._change(username, active=False)
        async with self.engine.begin() as conn:
            await conn.execute(delete(OfficerSession).where(
                OfficerSession.officer_id == officer.id))

    async def _change(self, username: str, **values: object) -> None:
        async with self.engine.begin() as conn:
            result = await conn.execute(update(Officer).where(
                Officer.username == username.strip().lower()).values(**values))
        if result.rowcount == 0:
            raise OfficerError(f"no officer named {username!r}")

    async def sign_in(self, username: str, password: str) -> tuple[str, SignedIn] | SignInRefused:
        """A new session token (for the cookie) and the session, or why not. A locked
        account is refused without looking at the password."""
        now = _now()
        async with self.engine.begin() as conn:
            row = (await conn.execute(select(Officer.__table__).where(
                Officer.username == username.strip().lower()[:60]))).mappings().first()
            if row is None or not row["active"]:
                _verify(_DECOY, password)
                return SignInRefused("wrong")
            locked = as_utc(row["locked_until"]) if row["locked_until"] else None
            if locked is not None and locked > now:
                return SignInRefused("locked", locked)
            if not _verify(row["password_hash"], password):
                failures = (0 if locked is not None else row["failed_attempts"]) + 1
                until = now + self.lockout if failures >= self.max_failures else None
                await conn.execute(update(Officer).where(Officer.id == row["id"]).values(
                    failed_attempts=0 if until else failures, locked_until=until))
                return SignInRefused("locked", until) if until else SignInRefused("wrong")
            values: dict[str, object] = {"failed_attempts": 0, "locked_until": None}
            if _hasher.check_needs_rehash(row["password_hash"]):
                values["password_hash"] = _hasher.hash(password)
            await conn.execute(update(Officer).where(Officer.id == row["id"]).values(values))
            token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            await conn.execute(OfficerSession.__table__.insert().values(
                token_hash=_digest(token), officer_id=row["id"], csrf=csrf,
                created_at=now, expires_at=now + self.session_time))
            await conn.execute(delete(OfficerSession).where(OfficerSession.expires_at < now))
        session = await self.session(token)
        if session is None:  # the client was revoked in between
            return SignInRefused("wrong")
        return token, session

    async def session(self, token: str | None) -> SignedIn | None:
        """The live session a cookie names, or None (unknown, expired, officer
        disabled, client revoked)."""
        if not token or len(token) > 100:
            return None
        async with self.engine.connect() as conn:
            row = (await conn.execute(
                select(Officer.__table__, ApiClient.name.label("client"),
                       OfficerSession.csrf, OfficerSession.expires_at.label("session_ends"))
                .join(OfficerSession, OfficerSession.officer_id == Officer.id)
                .join(ApiClient, ApiClient.id == Officer.client_id)
                .where(OfficerSession.token_hash == _digest(token)))).mappings().first()
        if row is None or not row["active"]:
            return None
        ends = as_utc(row["session_ends"])
        if ends is None or ends <= _now():
            return None
        principal = await self.clients.by_id(row["client_id"])
        if principal is None:
            return None
        officer = _info(row)
        return SignedIn(officer, replace(principal, officer=officer.username), row["csrf"],
                        ends)

    async def sign_out(self, token: str | None) -> None:
        if token:
            async with self.engine.begin() as conn:
                await conn.execute(delete(OfficerSession).where(
                    OfficerSession.token_hash == _digest(token)))


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password[:200])
    except (VerificationError, InvalidHashError):
        return False


def _info(row: RowMapping) -> OfficerInfo:
    return OfficerInfo(row["id"], row["username"], row["full_name"], row["client_id"],
                       row["client"], DeskKind(row["desk"]), bool(row["active"]),
                       as_utc(row["locked_until"]))
