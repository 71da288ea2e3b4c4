"""`region { serviceStats }`: complaints received and handled, time to first response and
to fulfilment against SLA, what is overdue now, by category and agency, and the
coverage gaps (eligible, not covered) per programme."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import and_, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.db.models import Finding, Referral, ServiceCase
from hub.domain.dates import as_utc
from hub.domain.referrals import SETTLED, ReferralStatus
from hub.domain.regions import code_range
from hub.domain.servicestats import Timing, timing

GAP_PROGRAMS = ("PBI_JKN", "KIP_PIP")


@dataclass
class AgencyFigures:
    agency: str
    referred: int = 0
    fulfilled: int = 0
    rejected: int = 0
    overdue_now: int = 0
    fulfilment: Timing = field(default_factory=lambda: timing([]))


@dataclass
class CategoryFigures:
    """One category of cases: what came in, what closed, what waits past its due time
    (the case's first response, or a referral of it), and how fast it was answered."""

    category: str
    received: int = 0
    handled: int = 0
    overdue_now: int = 0
    first_response: Timing = field(default_factory=lambda: timing([]))


@dataclass
class ServiceFigures:
    received: int
    handled: int
    first_response: Timing
    fulfilment: Timing
    overdue_now: int
    by_category: list[CategoryFigures]
    by_agency: list[AgencyFigures]
    coverage_gaps: list[tuple[str, int]]


def _under(column, codes: Sequence[str]):
    if not codes:
        return false()
    return or_(*(and_(column >= low, column < high) for low, high in map(code_range, codes)))


async def service_figures(engine: AsyncEngine, codes: Sequence[str],
                          since: datetime | None, until: datetime | None) -> ServiceFigures:
    now = datetime.now(UTC)
    cases_where = [_under(ServiceCase.region_code, codes)]
    if since:
        cases_where.append(ServiceCase.created_at >= since)
    if until:
        cases_where.append(ServiceCase.created_at < until)
    async with engine.connect() as conn:
        cases = (await conn.execute(select(
            ServiceCase.id, ServiceCase.category, ServiceCase.status, ServiceCase.created_at,
            ServiceCase.first_response_at, ServiceCase.first_response_due)
            .where(*cases_where))).all()
        referrals = (await conn.execute(select(
            Referral.agency, Referral.status, Referral.referred_at, Referral.settled_at,
            Referral.due_at, ServiceCase.category)
            .join(ServiceCase, ServiceCase.id == Referral.case_id)
            .where(*cases_where))).all()
        gaps = []
        for program in GAP_PROGRAMS:
            open_gaps = (await conn.execute(select(func.count()).select_from(Finding).where(
                Finding.kind == "ELIGIBLE_NOT_COVERED", Finding.status == "OPEN",
                Finding.fingerprint.like(f"%:{program}"),
                _under(Finding.region_code, codes)))).scalar_one()
            gaps.append((program, int(open_gaps)))
    received = len(cases)
    handled = sum(c.status == "CLOSED" for c in cases)
    categories: dict[str, CategoryFigures] = {}
    answered: dict[str, list] = defaultdict(list)
    waiting = 0
    for c in cases:
        category = categories.setdefault(c.category, CategoryFigures(c.category))
        category.received += 1
        category.handled += c.status == "CLOSED"
        if c.first_response_at is not None:
            answered[c.category].append((as_utc(c.created_at), as_utc(c.first_response_at),
                                         as_utc(c.first_response_due)))
        elif as_utc(c.first_response_due) < now:
            waiting += 1
            category.overdue_now += 1
    for name, category in categories.items():
        category.first_response = timing(answered[name])
    first = timing(span for spans in answered.values() for span in spans)
    agencies: dict[str, AgencyFigures] = {}
    spans: dict[str, list] = defaultdict(list)
    late = Counter()
    for r in referrals:
        figures = agencies.setdefault(r.agency, AgencyFigures(r.agency))
        status = ReferralStatus(r.status)
        if r.referred_at is not None:
            figures.referred += 1
        figures.fulfilled += status in (ReferralStatus.FULFILLED, ReferralStatus.MONITORED)
        figures.rejected += status is ReferralStatus.REJECTED
        if status not in SETTLED and r.due_at is not None and as_utc(r.due_at) < now:
            figures.overdue_now += 1
            late[r.agency] += 1
            categories[r.category].overdue_now += 1
        if status in (ReferralStatus.FULFILLED, ReferralStatus.MONITORED) and r.referred_at:
            spans[r.agency].append((as_utc(r.referred_at), as_utc(r.settled_at), as_utc(r.due_at)))
    for agency, figures in agencies.items():
        figures.fulfilment = timing(spans[agency])
    return ServiceFigures(
        received=received, handled=handled, first_response=first,
        fulfilment=timing(span for agency_spans in spans.values() for span in agency_spans),
        overdue_now=waiting + sum(late.values()),
        by_category=sorted(categories.values(), key=lambda c: c.category),
        by_agency=sorted(agencies.values(), key=lambda a: a.agency),
        coverage_gaps=gaps)
