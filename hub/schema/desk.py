"""GraphQL for the SLRT desk: cases (keluhan), referrals (rujukan) and their history,
the service catalogue, person search for the front office, and each desk's mutations."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

import strawberry
from sqlalchemy import select
from sqlalchemy.engine import RowMapping

from hub.access.roles import Role
from hub.db.models import Person as PersonRow
from hub.db.models import Referral as ReferralRow
from hub.db.models import ReferralEvent as ReferralEventRow
from hub.db.models import ServiceCase as CaseRow
from hub.db.models import WebhookDelivery as WebhookRow
from hub.domain.dates import as_utc
from hub.domain.names import normalize_name
from hub.domain.referrals import SETTLED, Desk, IllegalTransition, ReferralStatus
from hub.errors import BadUserInput, HubError, NotFound, NotFoundError
from hub.schema.arguments import valid_nik, valid_region
from hub.schema.loaders import fetch_all
from hub.schema.pagination import DEFAULT_PAGE, decode_id_cursor, encode_cursor, page_size
from hub.schema.reconciliation import _id, _visible
from hub.schema.types import HubInfo, PageInfo, Person, load_one
from hub.services import desk as services
from hub.services import letter, webhooks
from hub.services.desk import CATEGORIES, CHANNELS, KINDS, URGENCIES, DeskError, NewCase


def _enum(name: str, values: tuple[str, ...], description: str) -> Any:
    return strawberry.enum(Enum(name, {v: v for v in values}), description=description)


CaseKind = _enum("CaseKind", KINDS, "pertanyaan (question), saran (suggestion), "
                 "pengaduan (complaint).")
CaseCategory = _enum("CaseCategory", CATEGORIES, "What the case is about.")
CaseChannel = _enum("CaseChannel", CHANNELS, "How the case reached the desk.")
CaseUrgency = _enum("CaseUrgency", URGENCIES, "EMERGENCY is answered within "
                    "[desk] emergency_hours (4).")
ReferralState = strawberry.enum(ReferralStatus, name="ReferralStatus")


@strawberry.type(description="A step in a referral's history.")
class ReferralEvent:
    from_status: str | None
    to_status: str = strawberry.field(description="A status, or OVERDUE / ESCALATED.")
    actor: str = strawberry.field(description="The API client (or `hub`).")
    officer: str | None = strawberry.field(description="The person at the desk, if given.")
    reason: str | None
    at: datetime


@strawberry.type(description="A service a referral can ask for, its agency and SLA.")
class DeskService:
    code: str
    name: str
    agency: str
    sla_hours: float


@strawberry.type(description="A rujukan: one service of one agency for a case.")
class Referral:
    id: strawberry.ID
    service: str
    agency: str
    status: ReferralState  # type: ignore[valid-type]
    notes: str | None
    due_at: datetime | None = strawberry.field(
        description="When the agency's SLA runs out (set when referred).")
    created_at: datetime
    referred_at: datetime | None
    settled_at: datetime | None
    escalated_at: datetime | None
    verification_code: str | None = strawberry.field(
        description="Printed on the letter; anyone can check it at /rujukan/verify/<code>.")
    region_code: str
    case_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: RowMapping) -> Referral:
        return cls(id=strawberry.ID(str(row["id"])), service=row["service"],
                   agency=row["agency"], status=ReferralStatus(row["status"]),
                   notes=row["notes"], due_at=as_utc(row["due_at"]),
                   created_at=as_utc(row["created_at"]), referred_at=as_utc(row["referred_at"]),
                   settled_at=as_utc(row["settled_at"]),
                   escalated_at=as_utc(row["escalated_at"]),
                   verification_code=row["verification_code"], region_code=row["region_code"],
                   case_id=row["case_id"])

    @strawberry.field(description="Past its due time and not settled.")
    def overdue(self) -> bool:
        return (self.due_at is not None and ReferralStatus(self.status) not in SETTLED
                and self.due_at < datetime.now(UTC))

    @strawberry.field(description="Every step: who, when, why.")
    async def history(self, info: HubInfo) -> list[ReferralEvent]:
        rows = await fetch_all(info.context.engine, select(ReferralEventRow.__table__).where(
            ReferralEventRow.referral_id == int(self.id)).order_by(ReferralEventRow.id))
        return [ReferralEvent(from_status=r["from_status"], to_status=r["to_status"],
                              actor=r["actor"], officer=r["officer"], reason=r["reason"],
                              at=as_utc(r["at"])) for r in rows]

    @strawberry.field(description="The referral letter (surat rujukan) as a base64 PDF; "
                      "null until the referral is approved.")
    async def letter_pdf(self, info: HubInfo) -> str | None:
        if not self.verification_code:
            return None
        cases = await fetch_all(info.context.engine, select(CaseRow.__table__).where(
            CaseRow.id == self.case_id))
        case = cases[0]
        name, nik = case["name"], case["nik"]
        if case["person_id"] is not None:
            person = await info.context.loaders.person.load(case["person_id"])
            if person is not None:
                name, nik = person["name"], person["nik"]
                info.context.audit.note("person", case["person_id"], nik)
        service = info.context.settings.desk.services.get(self.service)
        pdf = letter.render(letter.LetterContent(
            ticket=case["ticket"], issued_at=self.referred_at or self.created_at,
            agency=self.agency, service=self.service,
            service_name=service.name if service else self.service, citizen_name=name,
            citizen_nik=nik, region_code=self.region_code, category=case["category"],
            urgency=case["urgency"], description=case["description"],
            verification_code=self.verification_code, due_at=self.due_at))
        return base64.b64encode(pdf).decode()

    @strawberry.field(name="case", description="The case the referral is for.")
    async def service_case(self, info: HubInfo) -> ServiceCase | None:
        # One query for a page of referrals, not one per referral.
        return await load_one(info.context.loaders.service_case, self.case_id,
                              ServiceCase.from_row)


@strawberry.type(description="A citizen's case at the SLRT desk (keluhan).")
class ServiceCase:
    id: strawberry.ID
    ticket: str
    kind: CaseKind  # type: ignore[valid-type]
    category: CaseCategory  # type: ignore[valid-type]
    channel: CaseChannel  # type: ignore[valid-type]
    urgency: CaseUrgency  # type: ignore[valid-type]
    description: str
    status: str = strawberry.field(description="OPEN, IN_PROGRESS or CLOSED.")
    nik: str | None = strawberry.field(description="As given, for a person the registry "
                                       "does not hold.")
    name: str | None
    region_code: str
    in_dtks: bool = strawberry.field(description="The household is in DTKS.")
    home_visit: bool = strawberry.field(description="Not in DTKS (or not in the registry "
                                        "at all): the case needs a home visit.")
    registered_by: str
    officer: str | None
    created_at: datetime
    first_response_due: datetime
    first_response_at: datetime | None
    closed_at: datetime | None
    resolution: str | None
    person_id: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: RowMapping) -> ServiceCase:
        return cls(
            id=strawberry.ID(str(row["id"])), ticket=row["ticket"] or "",
            kind=CaseKind[row["kind"]], category=CaseCategory[row["category"]],
            channel=CaseChannel[row["channel"]], urgency=CaseUrgency[row["urgency"]],
            description=row["description"], status=row["status"], nik=row["nik"],
            name=row["name"], region_code=row["region_code"], in_dtks=row["in_dtks"],
            home_visit=row["home_visit"], registered_by=row["registered_by"],
            officer=row["officer"], created_at=as_utc(row["created_at"]),
            first_response_due=as_utc(row["first_response_due"]),
            first_response_at=as_utc(row["first_response_at"]),
            closed_at=as_utc(row["closed_at"]), resolution=row["resolution"],
            person_id=row["person_id"])

    @strawberry.field(description="No first response yet, and its due time has passed.")
    def overdue(self) -> bool:
        return self.first_response_at is None and self.first_response_due < datetime.now(UTC)

    @strawberry.field(description="The person the case is about, if the registry has them.")
    async def person(self, info: HubInfo) -> Person | None:
        return await load_one(info.context.loaders.person, self.person_id, Person.from_row)

    @strawberry.field
    async def referrals(self, info: HubInfo) -> list[Referral]:
        rows = await fetch_all(info.context.engine, select(ReferralRow.__table__).where(
            ReferralRow.case_id == int(self.id)).order_by(ReferralRow.id))
        return [Referral.from_row(r) for r in rows]


@strawberry.type
class CaseEdge:
    cursor: str
    node: ServiceCase


@strawberry.type
class CaseConnection:
    edges: list[CaseEdge]
    page_info: PageInfo


@strawberry.type
class ReferralEdge:
    cursor: str
    node: Referral


@strawberry.type
class ReferralConnection:
    edges: list[ReferralEdge]
    page_info: PageInfo


@strawberry.input(description="A case as the front office takes it. Name the person by "
                  "personId (from searchPersons), NIK or KK; for someone the registry does "
                  "not hold, give newPerson: true with name and villageCode.")
class CaseInput:
    kind: CaseKind  # type: ignore[valid-type]
    category: CaseCategory  # type: ignore[valid-type]
    channel: CaseChannel  # type: ignore[valid-type]
    urgency: CaseUrgency  # type: ignore[valid-type]
    description: str
    person_id: strawberry.ID | None = None
    nik: str | None = None
    kk: str | None = None
    name: str | None = None
    village_code: str | None = None
    officer: str | None = None
    new_person: bool = strawberry.field(
        default=False, description="Register someone the registry does not hold (name and "
        "villageCode required): they go to a home visit. Without it, a person the client "
        "cannot see is NOT_FOUND, whether they are unknown or live elsewhere.")


MAX_NAME = 200  # longer than any name; a search for more is a mistake or an attack


def _desk(info: HubInfo) -> services.ServiceDesk:
    return services.ServiceDesk(info.context.engine, info.context.settings)


def _who(info: HubInfo) -> str:
    return info.context.principal.name[:80]


def _officer(info: HubInfo, typed: str | None) -> str | None:
    """Who is at the desk: the signed-in officer when the console asks (a typed name
    cannot stand in for them, so the four-eyes rule holds), else the name the API
    client gives."""
    return info.context.principal.officer or typed


def _desk_error(error: Exception) -> HubError:
    if isinstance(error, NotFound):
        return NotFoundError(str(error))
    return BadUserInput(str(error))


async def _case_row(info: HubInfo, case_id: int) -> RowMapping:
    rows = await fetch_all(info.context.engine, _visible(
        info, select(CaseRow.__table__).where(CaseRow.id == case_id), CaseRow.region_code))
    if not rows:
        raise NotFoundError(f"no case {case_id}")
    return rows[0]


async def _referral_row(info: HubInfo, referral_id: int) -> RowMapping:
    statement = _visible(info, select(ReferralRow.__table__).where(
        ReferralRow.id == referral_id), ReferralRow.region_code, ReferralRow.agency)
    rows = await fetch_all(info.context.engine, statement)
    if not rows:
        raise NotFoundError(f"no referral {referral_id}")
    return rows[0]


def _page(rows: list[RowMapping], limit: int, kind: str, make: Any, edge: Any) -> Any:
    edges = [edge(cursor=encode_cursor(kind, [r["id"]]), node=make(r)) for r in rows[:limit]]
    return edges, PageInfo(has_next_page=len(rows) > limit,
                           end_cursor=edges[-1].cursor if edges else None)


@strawberry.type(description="A message to an agency's webhook, and how its delivery went.")
class WebhookDelivery:
    id: strawberry.ID = strawberry.field(description="The delivery id (X-SLRT-Delivery).")
    agency: str
    event: str
    referral_id: strawberry.ID | None
    status: str = strawberry.field(description="PENDING, DELIVERED or DEAD.")
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None

    @classmethod
    def from_row(cls, row: RowMapping) -> WebhookDelivery:
        return cls(id=strawberry.ID(row["id"]), agency=row["agency"], event=row["event"],
                   referral_id=strawberry.ID(str(row["referral_id"]))
                   if row["referral_id"] is not None else None, status=row["status"],
                   attempts=row["attempts"], next_attempt_at=as_utc(row["next_attempt_at"]),
                   last_error=row["last_error"], created_at=as_utc(row["created_at"]),
                   delivered_at=as_utc(row["delivered_at"]))


async def _delivery_visible(info: HubInfo, delivery: str) -> bool:
    referrals = _visible(info, select(ReferralRow.id), ReferralRow.region_code,
                         ReferralRow.agency)
    rows = await fetch_all(info.context.engine, select(WebhookRow.id).where(
        WebhookRow.id == delivery, WebhookRow.referral_id.in_(referrals.scalar_subquery())))
    return bool(rows)


@strawberry.type
class DeskQuery:
    @strawberry.field(description="Webhook deliveries, newest first: DEAD ones are the "
                      "dead-letter queue.")
    async def webhook_deliveries(self, info: HubInfo, status: str | None = None,
                                 agency: str | None = None,
                                 first: int | None = None) -> list[WebhookDelivery]:
        limit = page_size(first, DEFAULT_PAGE, info.context.settings.server.max_page_size)
        # Deliveries about referrals in the client's regions only.
        referrals = _visible(info, select(ReferralRow.id), ReferralRow.region_code,
                             ReferralRow.agency)
        statement = select(WebhookRow.__table__).where(WebhookRow.referral_id.in_(
            referrals.scalar_subquery()))
        if status:
            statement = statement.where(WebhookRow.status == status)
        if agency:
            statement = statement.where(WebhookRow.agency == agency)
        rows = await fetch_all(info.context.engine, statement.order_by(
            WebhookRow.created_at.desc()).limit(limit))
        return [WebhookDelivery.from_row(r) for r in rows]

    @strawberry.field(description="The services referrals can ask for.")
    def desk_services(self, info: HubInfo) -> list[DeskService]:
        return [DeskService(code=code, name=s.name, agency=s.agency, sla_hours=s.sla_hours)
                for code, s in sorted(info.context.settings.desk.services.items())]

    @strawberry.field(description="A case by its ticket number.")
    async def service_case(self, info: HubInfo, ticket: str) -> ServiceCase | None:
        rows = await fetch_all(info.context.engine, _visible(
            info, select(CaseRow.__table__).where(CaseRow.ticket == ticket.strip()),
            CaseRow.region_code))
        return ServiceCase.from_row(rows[0]) if rows else None

    @strawberry.field(description="Cases, newest first, by status, region, category; "
                      "`overdue` for those still waiting past their first-response time.")
    async def service_cases(self, info: HubInfo, status: str | None = None,
                            region: str | None = None,
                            category: CaseCategory | None = None,  # type: ignore[valid-type]
                            overdue: bool | None = None, first: int | None = None,
                            after: str | None = None) -> CaseConnection:
        limit = page_size(first, DEFAULT_PAGE, info.context.settings.server.max_page_size)
        statement = _visible(info, select(CaseRow.__table__), CaseRow.region_code)
        if status:
            statement = statement.where(CaseRow.status == status)
        if region:
            code = valid_region(region, "region")
            statement = statement.where((CaseRow.region_code == code)
                                        | CaseRow.region_code.like(f"{code}.%"))
        if category is not None:
            statement = statement.where(CaseRow.category == category.value)
        if overdue is not None:
            late = (CaseRow.first_response_at.is_(None)
                    & (CaseRow.first_response_due < datetime.now(UTC)))
            statement = statement.where(late if overdue else ~late)
        if after:
            last = decode_id_cursor("case", after)
            statement = statement.where(CaseRow.id < last)
        rows = await fetch_all(info.context.engine,
                               statement.order_by(CaseRow.id.desc()).limit(limit + 1))
        edges, page = _page(list(rows), limit, "case", ServiceCase.from_row, CaseEdge)
        return CaseConnection(edges=edges, page_info=page)

    @strawberry.field(description="Referrals, newest first, by status, agency, region, "
                      "overdue. An agency sees the referrals addressed to it.")
    async def referrals(self, info: HubInfo,
                        status: ReferralState | None = None,  # type: ignore[valid-type]
                        agency: str | None = None, region: str | None = None,
                        overdue: bool | None = None, first: int | None = None,
                        after: str | None = None) -> ReferralConnection:
        limit = page_size(first, DEFAULT_PAGE, info.context.settings.server.max_page_size)
        statement = _visible(info, select(ReferralRow.__table__), ReferralRow.region_code,
                             ReferralRow.agency)
        if status is not None:
            statement = statement.where(ReferralRow.status == status.value)
        if agency:
            statement = statement.where(ReferralRow.agency == agency)
        if region:
            code = valid_region(region, "region")
            statement = statement.where((ReferralRow.region_code == code)
                                        | ReferralRow.region_code.like(f"{code}.%"))
        if overdue is not None:
            late = (ReferralRow.status.in_([s.value for s in ReferralStatus
                                            if s not in SETTLED])
                    & (ReferralRow.due_at < datetime.now(UTC)))
            statement = statement.where(late if overdue else ~late)
        if after:
            last = decode_id_cursor("referral", after)
            statement = statement.where(ReferralRow.id < last)
        rows = await fetch_all(info.context.engine,
                               statement.order_by(ReferralRow.id.desc()).limit(limit + 1))
        edges, page = _page(list(rows), limit, "referral", Referral.from_row, ReferralEdge)
        return ReferralConnection(edges=edges, page_info=page)

    @strawberry.field(description="The front office's search: persons by name (any "
                      "spelling the name rules fold together) in a village or district.")
    async def search_persons(self, info: HubInfo, name: str, region: str,
                             first: int | None = None) -> list[Person]:
        code = valid_region(region, "region")
        if len(name) > MAX_NAME:
            raise BadUserInput(f"name is at most {MAX_NAME} characters, got {len(name):,}",
                               argument="name")
        folded = normalize_name(name)
        if len(folded) < 3:
            raise BadUserInput("give at least three letters of the name", argument="name")
        limit = page_size(first, 20, info.context.settings.server.max_page_size)
        statement = _visible(info, select(PersonRow.__table__).where(
            (PersonRow.region_code == code) | PersonRow.region_code.like(f"{code}.%"),
            PersonRow.name_normalized.like(f"%{folded}%")), PersonRow.region_code)
        rows = await fetch_all(info.context.engine,
                               statement.order_by(PersonRow.name_normalized, PersonRow.id)
                               .limit(limit))
        return [Person.from_row(r) for r in rows]


async def _referral_after(info: HubInfo, referral_id: int) -> Referral:
    rows = await fetch_all(info.context.engine, select(ReferralRow.__table__).where(
        ReferralRow.id == referral_id))
    return Referral.from_row(rows[0])


# Every referral step a mutation takes: the status it moves the referral to, and the
# desk whose step it is (the rules of who may move what are `hub.domain.referrals`').
STEPS: dict[str, tuple[ReferralStatus, Desk]] = {
    "approve": (ReferralStatus.APPROVED, Desk.MANAGER),
    "return": (ReferralStatus.RETURNED, Desk.MANAGER),
    "resubmit": (ReferralStatus.RECOMMENDED, Desk.BACK_OFFICE),
    "accept": (ReferralStatus.ACCEPTED, Desk.AGENCY),
    "reject": (ReferralStatus.REJECTED, Desk.AGENCY),
    "fulfill": (ReferralStatus.FULFILLED, Desk.AGENCY),
    "monitor": (ReferralStatus.MONITORED, Desk.MONITOR),
}


async def _step(info: HubInfo, id: strawberry.ID, step: str, officer: str | None,
                reason: str | None) -> Referral:
    target, desk = STEPS[step]
    referral_id = _id(id, "id")
    await _referral_row(info, referral_id)
    principal = info.context.principal
    try:
        await _desk(info).move(referral_id, target, desk, _who(info), _officer(info, officer),
                               reason,
                               agency=principal.agency if principal.role is Role.AGENCY
                               else None)
    except (IllegalTransition, DeskError, NotFound) as error:
        raise _desk_error(error) from None
    return await _referral_after(info, referral_id)


@strawberry.type
class DeskMutation:
    @strawberry.mutation(description="Send a dead-lettered webhook delivery again, with "
                         "its tries reset.")
    async def retry_webhook_delivery(self, info: HubInfo, id: strawberry.ID
                                     ) -> WebhookDelivery:
        visible = await _delivery_visible(info, str(id))
        if not visible or not await webhooks.retry(info.context.engine, str(id)):
            raise NotFoundError(f"no dead-lettered delivery {id}")
        rows = await fetch_all(info.context.engine, select(WebhookRow.__table__).where(
            WebhookRow.id == str(id)))
        return WebhookDelivery.from_row(rows[0])

    @strawberry.mutation(description="Front office: register a case; returns it with its "
                         "ticket number.")
    async def register_case(self, info: HubInfo, case: CaseInput) -> ServiceCase:
        nik = valid_nik(case.nik) if case.nik else None
        village = valid_region(case.village_code, "villageCode") if case.village_code \
            else None
        new = NewCase(kind=case.kind.value, category=case.category.value,
                      channel=case.channel.value, urgency=case.urgency.value,
                      description=case.description,
                      person_id=_id(case.person_id, "personId") if case.person_id else None,
                      nik=nik, kk=case.kk.strip() if case.kk else None,
                      name=case.name, village_code=village, officer=_officer(info, case.officer),
                      new_person=case.new_person)
        try:
            case_id = await _desk(info).register(new, _who(info),
                                                 info.context.principal.scope.allows)
        except (DeskError, NotFound) as error:
            raise _desk_error(error) from None
        return ServiceCase.from_row(await _case_row(info, case_id))

    @strawberry.mutation(description="Back office: recommend a service for a case.")
    async def recommend_referral(self, info: HubInfo, case_id: strawberry.ID, service: str,
                                 notes: str | None = None,
                                 officer: str | None = None) -> Referral:
        row = await _case_row(info, _id(case_id, "caseId"))
        try:
            referral_id = await _desk(info).recommend(row["id"], service, notes, _who(info),
                                                      _officer(info, officer))
        except (DeskError, NotFound) as error:
            raise _desk_error(error) from None
        return await _referral_after(info, referral_id)

    @strawberry.mutation(description="Manager: approve; the hub refers it to the agency at "
                         "once and the letter gets its verification code.")
    async def approve_referral(self, info: HubInfo, id: strawberry.ID,
                               officer: str | None = None) -> Referral:
        return await _step(info, id, "approve", officer, None)

    @strawberry.mutation(description="Manager: return to the back office, with the reason.")
    async def return_referral(self, info: HubInfo, id: strawberry.ID, reason: str,
                              officer: str | None = None) -> Referral:
        return await _step(info, id, "return", officer, reason)

    @strawberry.mutation(description="Back office: recommend a returned referral again.")
    async def resubmit_referral(self, info: HubInfo, id: strawberry.ID,
                                notes: str | None = None,
                                officer: str | None = None) -> Referral:
        return await _step(info, id, "resubmit", officer, notes)

    @strawberry.mutation(description="Agency: accept a referral addressed to it.")
    async def accept_referral(self, info: HubInfo, id: strawberry.ID,
                              officer: str | None = None) -> Referral:
        return await _step(info, id, "accept", officer, None)

    @strawberry.mutation(description="Agency: reject a referral, with the reason.")
    async def reject_referral(self, info: HubInfo, id: strawberry.ID, reason: str,
                              officer: str | None = None) -> Referral:
        return await _step(info, id, "reject", officer, reason)

    @strawberry.mutation(description="Agency: the service was given.")
    async def fulfill_referral(self, info: HubInfo, id: strawberry.ID,
                               notes: str | None = None,
                               officer: str | None = None) -> Referral:
        return await _step(info, id, "fulfill", officer, notes)

    @strawberry.mutation(description="Back office or facilitator: the follow-up visit.")
    async def monitor_referral(self, info: HubInfo, id: strawberry.ID, notes: str,
                               officer: str | None = None) -> Referral:
        return await _step(info, id, "monitor", officer, notes)

    @strawberry.mutation(description="Close a case whose referrals are settled (or that "
                         "needed only an answer), with its resolution.")
    async def close_case(self, info: HubInfo, id: strawberry.ID,
                         resolution: str) -> ServiceCase:
        row = await _case_row(info, _id(id, "id"))
        try:
            await _desk(info).close_case(row["id"], resolution, _who(info))
        except (DeskError, NotFound) as error:
            raise _desk_error(error) from None
        return ServiceCase.from_row(await _case_row(info, row["id"]))


OVERLAP = timedelta(seconds=5)


async def referral_changes(info: HubInfo, agency: str | None
                           ) -> AsyncGenerator[Referral, None]:
    """Referrals as they change. Desk steps are short transactions, so polling
    `updated_at` with a few seconds of overlap (and skipping what was sent) sees every
    change once."""
    engine = info.context.engine
    poll = info.context.settings.access.subscription_poll_seconds
    since = datetime.now(UTC)
    sent: dict[tuple[int, str], datetime] = {}
    while True:
        await asyncio.sleep(poll)
        statement = _visible(info, select(ReferralRow.__table__).where(
            ReferralRow.updated_at >= since - OVERLAP), ReferralRow.region_code,
            ReferralRow.agency)
        if agency:
            statement = statement.where(ReferralRow.agency == agency)
        rows = await fetch_all(engine, statement.order_by(ReferralRow.updated_at,
                                                          ReferralRow.id).limit(500))
        for row in rows:
            key = (row["id"], str(row["updated_at"]))
            if key in sent:
                continue
            sent[key] = as_utc(row["updated_at"])
            yield Referral.from_row(row)
        if rows:
            since = max(since, as_utc(rows[-1]["updated_at"]))
        sent = {k: at for k, at in sent.items() if at >= since - OVERLAP}

