"""The district dashboard: the desk's service figures against its SLAs, coverage per
programme and desil, the KIS gap per village, and the connectors' health. Figures come
from the same GraphQL fields an API client reads (region statistics are kept per
village, so the page stays fast on a regency of a million)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hub.access.officers import DeskKind, SignedIn
from hub.console.web import Console, page

DASHBOARD_DESKS = (DeskKind.BACK, DeskKind.MANAGER, DeskKind.STEWARD)
PERIODS = {"7": 7, "30": 30, "90": 90, "365": 365}

FIGURES = """
query ConsoleDashboard($region: String!, $since: DateTime) {
  region(code: $region) {
    code name level
    serviceStats(since: $since) {
      received handled shareHandled overdueNow
      firstResponse { measured medianHours p90Hours withinSla }
      fulfilment { measured medianHours p90Hours withinSla }
      byCategory { category received handled overdueNow
                   firstResponse { medianHours withinSla } }
      byAgency { agency referred fulfilled rejected overdueNow
                 fulfilment { medianHours withinSla } }
      coverageGaps { program persons }
    }
    statistics {
      households persons
      perDesil { desil households persons }
      coverage { program enrolledPersons poorPersons poorEnrolled coverageOfPoor }
    }
  }
}
"""
OPERATIONS = """
query ConsoleOperations($region: String!) {
  findingCounts(region: $region) { regionCode kind open }
  connectors { name enabled lastSuccessAt lagSeconds circuitState
               lastRun { status startedAt error } }
}
"""


def kis_gap(counts: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """Persons eligible for PBI-JKN without a KIS, per village, most first."""
    gap = [(row["regionCode"] or "–", row["open"]) for row in counts
           if row["kind"] == "ELIGIBLE_NOT_COVERED" and row["open"]]
    return sorted(gap, key=lambda item: (-item[1], item[0]))


def routes(console: Console) -> list[BaseRoute]:
    @page(console, DASHBOARD_DESKS)
    async def dashboard(request: Request, signed: SignedIn) -> Response:
        regions = signed.principal.regions
        region = request.query_params.get("region", "").strip()[:13] or (
            regions[0] if regions else "")
        period = request.query_params.get("days", "30")
        if period not in PERIODS:
            period = "30"
        since = datetime.now(UTC) - timedelta(days=PERIODS[period])
        figures, operations = None, None
        errors: list[str] = []
        if region:
            figures = await console.run(signed, FIGURES, {"region": region,
                                                          "since": since.isoformat()})
            operations = await console.run(signed, OPERATIONS, {"region": region})
            errors = figures.errors + operations.errors
        found = (figures.data.get("region") if figures else None) or None
        return console.render(
            request, "dashboard.html", signed, region=region, regions=regions,
            period=period, periods=list(PERIODS), place=found, errors=errors,
            gap=kis_gap((operations.data.get("findingCounts") or []) if operations else []),
            connectors=(operations.data.get("connectors") or []) if operations else [],
            now=datetime.now(UTC))

    return [Route("/dashboard", dashboard)]
