"""GraphQL types of `region { serviceStats }`."""

from __future__ import annotations

import strawberry

from hub.domain.servicestats import Timing
from hub.services.stats import ServiceFigures


@strawberry.type(description="How long answers took, and the share within their SLA.")
class ServiceTiming:
    measured: int
    median_hours: float | None
    p90_hours: float | None
    within_sla: float | None = strawberry.field(description="Share answered by the due "
                                                "time, 0-1.")

    @classmethod
    def of(cls, t: Timing) -> ServiceTiming:
        return cls(measured=t.measured, median_hours=t.median_hours, p90_hours=t.p90_hours,
                   within_sla=t.within_sla)


@strawberry.type(description="The desk's figures for one category of cases.")
class CategoryFigures:
    category: str
    received: int
    handled: int
    overdue_now: int = strawberry.field(description="Cases of the category waiting past "
                                        "their first-response time plus their referrals "
                                        "past their due time.")
    first_response: ServiceTiming


@strawberry.type
class AgencyServiceFigures:
    agency: str
    referred: int
    fulfilled: int
    rejected: int
    overdue_now: int
    fulfilment: ServiceTiming


@strawberry.type(description="Eligible by the findings rules, not covered (open "
                 "ELIGIBLE_NOT_COVERED findings).")
class CoverageGap:
    program: str
    persons: int


@strawberry.type(description="The SLRT desk's figures for a region: what a district "
                 "reports to the ministry.")
class ServiceStats:
    received: int = strawberry.field(description="Cases registered.")
    handled: int = strawberry.field(description="Cases closed.")
    first_response: ServiceTiming = strawberry.field(
        description="Registration to first response, against [desk] first_response_hours "
        "(emergency_hours for emergencies).")
    fulfilment: ServiceTiming = strawberry.field(
        description="Referred to fulfilled, against each service's SLA.")
    overdue_now: int = strawberry.field(description="Cases waiting past their first-response "
                                        "time plus referrals past their due time.")
    by_category: list[CategoryFigures]
    by_agency: list[AgencyServiceFigures]
    coverage_gaps: list[CoverageGap]

    @strawberry.field(description="handled / received, 0 when none were received.")
    def share_handled(self) -> float:
        return round(self.handled / self.received, 4) if self.received else 0.0

    @classmethod
    def of(cls, f: ServiceFigures) -> ServiceStats:
        return cls(
            received=f.received, handled=f.handled,
            first_response=ServiceTiming.of(f.first_response),
            fulfilment=ServiceTiming.of(f.fulfilment), overdue_now=f.overdue_now,
            by_category=[CategoryFigures(category=c.category, received=c.received,
                                         handled=c.handled, overdue_now=c.overdue_now,
                                         first_response=ServiceTiming.of(c.first_response))
                         for c in f.by_category],
            by_agency=[AgencyServiceFigures(agency=a.agency, referred=a.referred,
                                            fulfilled=a.fulfilled, rejected=a.rejected,
                                            overdue_now=a.overdue_now,
                                            fulfilment=ServiceTiming.of(a.fulfilment))
                       for a in f.by_agency],
            coverage_gaps=[CoverageGap(program=p, persons=n) for p, n in f.coverage_gaps])
