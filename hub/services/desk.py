"""The SLRT desk over the database: registering cases, recommending, deciding and
following referrals, every step in one transaction with its history row.

Front office (or a village facilitator) registers; back office recommends; the manager
approves or returns; the hub refers the approved referral to the agency; the agency
accepts, rejects or fulfils; the back office or facilitator monitors. A case closes when
its referrals are settled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.config import HubSettings
from hub.db.models import Household, Person, Referral, ReferralEvent, ServiceCase
from hub.domain.referrals import (
    SETTLED,
    Desk,
    IllegalTransition,
    ReferralStatus,
    Sla,
    check_transition,
    looks_like_code,
    ticket_number,
    verification_code,
)
from hub.errors import NotFound
from hub.services import webhooks

KINDS = ("QUESTION", "SUGGESTION", "COMPLAINT")  # pertanyaan, saran, pengaduan
CATEGORIES = ("HEALTH", "EDUCATION", "SOCIAL_ASSISTANCE", "CIVIL_DOCUMENTS", "ECONOMIC",
              "OTHER")
CHANNELS = ("WALK_IN", "PHONE", "APP", "PUSKESOS")
URGENCIES = ("NORMAL", "URGENT", "EMERGENCY")


class DeskError(ValueError):
    """A request the desk cannot carry out; the message says why."""




def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class NewCase:
    kind: str
    category: str
    channel: str
    urgency: str
    description: str
    person_id: int | None = None
    nik: str | None = None
    kk: str | None = None
    name: str | None = None
    village_code: str | None = None
    officer: str | None = None
    new_person: bool = False  # the desk registers someone the registry does not hold


@dataclass(frozen=True)
class Subject:
    """Whom a case is about, as the registry knows them."""

    person_id: int | None
    household_id: int | None
    region_code: str | None
    in_dtks: bool


UNKNOWN = Subject(None, None, None, in_dtks=False)
NO_SUCH_PERSON = ("no such person in this client's regions; to register someone the "
                  "registry does not hold, send newPerson: true with name and villageCode")


class ServiceDesk:
    def __init__(self, engine: AsyncEngine, settings: HubSettings,
                 clock: Callable[[], datetime] = _now) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock
        desk = settings.desk
        self.sla = Sla(desk.emergency_hours, desk.first_response_hours)

    # -- cases ----------------------------------------------------------------------

    async def register(self, case: NewCase, actor: str,
                       allowed: Callable[[str | None], bool]) -> int:
        """Register a case; returns its id. The person is found by id, NIK or KK; one
        the registry does not know, or whose household DTKS does not hold, is flagged
        for a home visit."""
        _one_of(case.kind, KINDS, "kind")
        _one_of(case.category, CATEGORIES, "category")
        _one_of(case.channel, CHANNELS, "channel")
        _one_of(case.urgency, URGENCIES, "urgency")
        if not case.description.strip():
            raise DeskError("a description of the case is required")
        async with self.engine.begin() as conn:
            subject = await self._subject(conn, case)
            if subject.region_code is not None and not allowed(subject.region_code):
                subject = UNKNOWN  # elsewhere reads exactly as unknown
            if subject.person_id is None and subject.household_id is None:
                if not case.new_person:
                    raise NotFound(NO_SUCH_PERSON)
                if not case.village_code or not (case.name or "").strip():
                    raise DeskError("a new person needs a name and villageCode, so the desk "
                                    "knows whom to visit and where")
            region = subject.region_code or case.village_code
            if region is None or not allowed(region):
                raise NotFound(NO_SUCH_PERSON)
            now = self.clock()
            values = {
                "person_id": subject.person_id, "household_id": subject.household_id,
                "nik": case.nik, "name": case.name, "region_code": region,
                "in_dtks": subject.in_dtks, "home_visit": not subject.in_dtks,
                "kind": case.kind, "category": case.category, "channel": case.channel,
                "urgency": case.urgency, "description": case.description.strip(),
                "status": "OPEN", "registered_by": actor, "officer": case.officer,
                "created_at": now,
                "first_response_due": self.sla.first_response_due(now, case.urgency),
            }
            case_id = (await conn.execute(ServiceCase.__table__.insert().values(values)
                                          .returning(ServiceCase.id))).scalar_one()
            regency = ".".join(region.split(".")[:2])
            await conn.execute(update(ServiceCase).where(ServiceCase.id == case_id).values(
                ticket=ticket_number(regency, now, case_id)))
        return int(case_id)

    async def _subject(self, conn: AsyncConnection, case: NewCase) -> Subject:
        person = None
        if case.person_id is not None:
            person = (await conn.execute(select(Person.id, Person.household_id,
                                                Person.region_code)
                                         .where(Person.id == case.person_id))).first()
            if person is None:
                return UNKNOWN
        elif case.nik:
            person = (await conn.execute(select(Person.id, Person.household_id,
                                                Person.region_code)
                                         .where(Person.nik == case.nik)
                                         .order_by(Person.id).limit(1))).first()
        household_id = person.household_id if person else None
        if person is None and case.kk:
            household_id = (await conn.execute(select(Household.id).where(
                Household.kk == case.kk))).scalar_one_or_none()
        desil, village = None, None
        if household_id is not None:
            row = (await conn.execute(select(Household.desil, Household.village_code).where(
                Household.id == household_id))).first()
            if row is not None:
                desil, village = row.desil, row.village_code
        region = (person.region_code if person else None) or village
        return Subject(person.id if person else None, household_id, region,
                       in_dtks=desil is not None)

    async def close_case(self, case_id: int, resolution: str, actor: str) -> None:
        if not resolution.strip():
            raise DeskError("closing a case needs its resolution")
        async with self.engine.begin() as conn:
            case = await self._case(conn, case_id)
            if case.status == "CLOSED":
                raise DeskError(f"case {case.ticket} is closed already")
            statuses = (await conn.execute(select(Referral.status).where(
                Referral.case_id == case_id))).scalars().all()
            open_ones = [s for s in statuses if ReferralStatus(s) not in SETTLED]
            if open_ones:
                raise DeskError(f"case {case.ticket} still has {len(open_ones)} referral(s) "
                                f"in progress ({', '.join(sorted(set(open_ones)))})")
            now = self.clock()
            await conn.execute(update(ServiceCase).where(ServiceCase.id == case_id).values(
                status="CLOSED", closed_at=now, resolution=resolution.strip(),
                first_response_at=func.coalesce(ServiceCase.first_response_at, now)))

    async def _case(self, conn: AsyncConnection, case_id: int) -> Any:
        case = (await conn.execute(select(ServiceCase.__table__).where(
            ServiceCase.id == case_id))).first()
        if case is None:
            raise NotFound(f"no case {case_id}")
        return case

    # -- referrals ------------------------------------------------------------------

    async def recommend(self, case_id: int, service: str, notes: str | None, actor: str,
                        officer: str | None) -> int:
        catalogue = self.settings.desk.services
        if service not in catalogue:
            raise DeskError(f"no service {service!r}; the catalogue has "
                            f"{', '.join(sorted(catalogue))}")
        async with self.engine.begin() as conn:
            case = await self._case(conn, case_id)
            if case.status == "CLOSED":
                raise DeskError(f"case {case.ticket} is closed")
            now = self.clock()
            referral_id = (await conn.execute(Referral.__table__.insert().values(
                case_id=case_id, service=service, agency=catalogue[service].agency,
                region_code=case.region_code, status=ReferralStatus.RECOMMENDED.value,
                notes=notes, created_at=now, updated_at=now).returning(Referral.id))
            ).scalar_one()
            await self._event(conn, referral_id, None, ReferralStatus.RECOMMENDED, actor,
                              officer, notes, now)
            await conn.execute(update(ServiceCase).where(ServiceCase.id == case_id).values(
                status="IN_PROGRESS",
                first_response_at=func.coalesce(ServiceCase.first_response_at, now)))
        return int(referral_id)

    async def move(self, referral_id: int, target: ReferralStatus, desk: Desk, actor: str,
                   officer: str | None = None, reason: str | None = None,
                   agency: str | None = None) -> None:
        """One step of the workflow, checked, with its history. An approval also
        refers the referral to its agency (the letter's code is made then), and a
        referral that settles may close its case."""
        async with self.engine.begin() as conn:
            referral = (await conn.execute(select(Referral.__table__).where(
                Referral.id == referral_id).with_for_update())).first()
            if referral is None or (agency is not None and referral.agency != agency):
                raise NotFound(f"no referral {referral_id}")
            current = ReferralStatus(referral.status)
            check_transition(current, target, desk, reason)
            if desk is Desk.MANAGER and officer:
                await self._four_eyes(conn, referral_id, officer)
            now = self.clock()
            values: dict[str, Any] = {"status": target.value, "updated_at": now}
            if target in SETTLED:
                values["settled_at"] = now
            if target is ReferralStatus.ACCEPTED:
                values["accepted_at"] = now
            await self._event(conn, referral_id, current, target, actor, officer, reason, now)
            if target is ReferralStatus.APPROVED:
                case = await self._case(conn, referral.case_id)
                values |= await self._refer(conn, referral, case, now)
            await conn.execute(update(Referral).where(Referral.id == referral_id)
                               .values(values))
            if target in SETTLED:
                await self._close_if_settled(conn, referral.case_id, now)

    @staticmethod
    async def _four_eyes(conn: AsyncConnection, referral_id: int, officer: str) -> None:
        """The manager who decides is not the officer who recommended: when the desk
        names its officers, one person cannot approve their own recommendation."""
        recommended_by = (await conn.execute(
            select(ReferralEvent.officer).where(
                ReferralEvent.referral_id == referral_id,
                ReferralEvent.to_status == ReferralStatus.RECOMMENDED.value)
            .order_by(ReferralEvent.id.desc()).limit(1))).scalar_one_or_none()
        if recommended_by and recommended_by.strip().lower() == officer.strip().lower():
            raise IllegalTransition(f"{officer} recommended this referral; another officer "
                                    "(the SLRT manager) must decide on it")

    async def _refer(self, conn: AsyncConnection, referral: Any, case: Any,
                     now: datetime) -> dict[str, Any]:
        """Refer to the agency: the due time, the letter's code, and the webhook message
        queued in this same transaction."""
        desk = self.settings.desk
        service = desk.services.get(referral.service)
        hours = service.sla_hours if service else self.sla.first_response_hours
        due = self.sla.referral_due(now, case.urgency, hours)
        code = verification_code(desk.letter_secret, referral.id, case.ticket,
                                 referral.service)
        name, nik = case.name, case.nik
        if case.person_id is not None:
            person = (await conn.execute(select(Person.name, Person.nik).where(
                Person.id == case.person_id))).first()
            if person is not None:
                name, nik = person.name, person.nik
        delivery = await webhooks.outbox(conn, referral.agency, "referral.referred",
                                         referral.id, {
            "referral_id": referral.id, "ticket": case.ticket, "service": referral.service,
            "service_name": service.name if service else referral.service,
            "agency": referral.agency, "urgency": case.urgency, "category": case.category,
            "description": case.description, "notes": referral.notes,
            "region_code": referral.region_code, "citizen": {"name": name, "nik": nik},
            "due_at": due.isoformat(), "verification_code": code,
            "callback_url": f"{desk.callback_base_url.rstrip('/')}/callbacks/"
                            f"{referral.agency}/referrals",
        }, now)
        await self._event(conn, referral.id, ReferralStatus.APPROVED, ReferralStatus.REFERRED,
                          "hub", None, f"sent to {referral.agency} (delivery {delivery})", now)
        return {"status": ReferralStatus.REFERRED.value, "referred_at": now, "due_at": due,
                "verification_code": code}

    async def _close_if_settled(self, conn: AsyncConnection, case_id: int,
                                now: datetime) -> None:
        statuses = (await conn.execute(select(Referral.status).where(
            Referral.case_id == case_id))).scalars().all()
        if statuses and all(ReferralStatus(s) in SETTLED for s in statuses):
            await conn.execute(update(ServiceCase).where(
                ServiceCase.id == case_id, ServiceCase.status != "CLOSED").values(
                status="CLOSED", closed_at=now,
                resolution="all referrals settled: " + ", ".join(sorted(statuses))))

    @staticmethod
    async def _event(conn: AsyncConnection, referral_id: int,
                     current: ReferralStatus | None, target: ReferralStatus | str,
                     actor: str, officer: str | None, reason: str | None,
                     at: datetime) -> None:
        await conn.execute(ReferralEvent.__table__.insert().values(
            referral_id=referral_id, from_status=current.value if current else None,
            to_status=str(target), actor=actor[:80], officer=officer, reason=reason, at=at))

    # -- the SLA watcher -------------------------------------------------------------

    async def watch(self) -> dict[str, int]:
        """Mark referrals past their due time overdue and escalate them to the district
        manager, once each. It looks at every referral still with an agency whose due
        time has passed, so a deadline that passed while the hub was down is caught on
        the next run."""
        now = self.clock()
        async with self.engine.begin() as conn:
            late = (await conn.execute(select(Referral.id, Referral.status).where(
                Referral.status.in_([ReferralStatus.REFERRED.value,
                                     ReferralStatus.ACCEPTED.value]),
                Referral.due_at < now, Referral.escalated_at.is_(None))
                .with_for_update())).all()
            for referral_id, status in late:
                await self._event(conn, referral_id, ReferralStatus(status), "OVERDUE", "hub",
                                  None, "the agency's SLA has passed", now)
                await self._event(conn, referral_id, ReferralStatus(status), "ESCALATED",
                                  "hub", None, "escalated to the district's SLRT manager",
                                  now)
            if late:
                await conn.execute(update(Referral).where(
                    Referral.id.in_([r for r, _ in late])).values(
                    overdue_at=now, escalated_at=now, updated_at=now))
        return {"escalated": len(late)}


async def letter_status(engine: AsyncEngine, settings: HubSettings,
                        code: str) -> dict[str, Any] | None:
    """What a referral letter with this verification code says, and where the
    referral stands now; None for a code the hub never issued."""
    if not looks_like_code(code):
        return None
    async with engine.connect() as conn:
        row = (await conn.execute(
            select(Referral.service, Referral.agency, Referral.status, Referral.referred_at,
                   Referral.due_at, ServiceCase.ticket)
            .join(ServiceCase, ServiceCase.id == Referral.case_id)
            .where(Referral.verification_code == code.strip().upper()))).first()
    if row is None:
        return None
    service = settings.desk.services.get(row.service)
    return {"ticket": row.ticket, "service": row.service,
            "serviceName": service.name if service else row.service, "agency": row.agency,
            "status": row.status,
            "issuedAt": row.referred_at.isoformat() if row.referred_at else None,
            "dueAt": row.due_at.isoformat() if row.due_at else None}


def _one_of(value: str, allowed: tuple[str, ...], name: str) -> None:
    if value not in allowed:
        raise DeskError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


__all__ = ["DeskError", "IllegalTransition", "NewCase", "ServiceDesk"]
