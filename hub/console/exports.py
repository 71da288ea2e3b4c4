"""Lists a district office can take away: findings, households per desil, cases,
referrals and review tasks as CSV or XLSX.

An export pages through the same GraphQL fields as its page (500 rows a request, by
cursor), as the officer: so it sees what the officer may see, and every page of it is in
the audit log like any read. CSV streams row by row; XLSX is written by openpyxl's
write-only workbook to a temporary file that spills to disk, then streamed, so memory
stays flat however long the list."""

from __future__ import annotations

import codecs
import csv
import io
import tempfile
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from openpyxl import Workbook
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from hub.access.officers import DeskKind, SignedIn
from hub.console.web import SECURITY_HEADERS, Console, Refused, page
from hub.schema.pagination import encode_cursor

PAGE = 500
F, B, M, S, A = (DeskKind.FRONT, DeskKind.BACK, DeskKind.MANAGER, DeskKind.STEWARD,
                 DeskKind.AGENCY)


@dataclass(frozen=True)
class ExportList:
    """One list: who may take it, its document, where its rows are, its columns."""

    name: str
    desks: tuple[DeskKind, ...]
    query: str
    root: str
    columns: tuple[str, ...]
    row: Callable[[dict[str, Any]], tuple[Any, ...]]
    filters: tuple[str, ...] = ()
    connection: bool = True  # False: a plain list paged by an id cursor


def _get(value: Any, *keys: str) -> Any:
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


LISTS = {spec.name: spec for spec in (
    ExportList(
        "findings", (M, S),
        """query ConsoleExportFindings($region: String, $kind: FindingKind, $after: String,
                                       $first: Int) {
          page: findings(region: $region, kind: $kind, status: OPEN, first: $first,
                         after: $after) {
            edges { node { id kind ownerAgency regionCode createdAt
                           person { nik name household { kk } } } }
            pageInfo { hasNextPage endCursor } } }""",
        "page", ("id", "kind", "owner_agency", "village", "nik", "name", "kk", "created_at"),
        lambda n: (n["id"], n["kind"], n["ownerAgency"], n["regionCode"],
                   _get(n, "person", "nik"), _get(n, "person", "name"),
                   _get(n, "person", "household", "kk"), n["createdAt"]),
        ("region", "kind")),
    ExportList(
        "households", (B, M, S),
        """query ConsoleExportHouseholds($region: String!, $desil: Int, $after: String,
                                         $first: Int) {
          page: households(region: $region, desil: $desil, first: $first, after: $after) {
            edges { node { kk villageCode address desil head { nik name }
                           members { id } } }
            pageInfo { hasNextPage endCursor } } }""",
        "page", ("kk", "village", "address", "desil", "head_nik", "head_name", "members"),
        lambda n: (n["kk"], n["villageCode"], n["address"], n["desil"],
                   _get(n, "head", "nik"), _get(n, "head", "name"), len(n["members"])),
        ("region", "desil")),
    ExportList(
        "cases", (B, M),
        """query ConsoleExportCases($region: String, $status: String, $after: String,
                                    $first: Int) {
          page: serviceCases(region: $region, status: $status, first: $first,
                             after: $after) {
            edges { node { ticket kind category channel urgency status nik name regionCode
                           homeVisit createdAt firstResponseDue firstResponseAt closedAt
                           overdue officer registeredBy } }
            pageInfo { hasNextPage endCursor } } }""",
        "page", ("ticket", "kind", "category", "channel", "urgency", "status", "nik", "name",
                 "village", "home_visit", "created_at", "first_response_due",
                 "first_response_at", "closed_at", "overdue", "officer"),
        lambda n: (n["ticket"], n["kind"], n["category"], n["channel"], n["urgency"],
                   n["status"], n["nik"], n["name"], n["regionCode"], n["homeVisit"],
                   n["createdAt"], n["firstResponseDue"], n["firstResponseAt"],
                   n["closedAt"], n["overdue"], n["officer"] or n["registeredBy"]),
        ("region", "status")),
    ExportList(
        "referrals", (B, M, A),
        """query ConsoleExportReferrals($region: String, $status: ReferralStatus,
                                        $after: String, $first: Int) {
          page: referrals(region: $region, status: $status, first: $first, after: $after) {
            edges { node { id service agency status regionCode createdAt referredAt dueAt
                           settledAt overdue verificationCode case { ticket } } }
            pageInfo { hasNextPage endCursor } } }""",
        "page", ("id", "ticket", "service", "agency", "status", "village", "created_at",
                 "referred_at", "due_at", "settled_at", "overdue", "verification_code"),
        lambda n: (n["id"], _get(n, "case", "ticket"), n["service"], n["agency"],
                   n["status"], n["regionCode"], n["createdAt"], n["referredAt"],
                   n["dueAt"], n["settledAt"], n["overdue"], n["verificationCode"]),
        ("region", "status")),
    ExportList(
        "review-tasks", (S,),
        """query ConsoleExportReview($region: String, $after: String, $first: Int) {
          page: reviewTasks(status: "OPEN", region: $region, first: $first, after: $after) {
            id probability regionCode record { source sourceKey }
            candidate { nik name } } }""",
        "page", ("id", "probability", "village", "source", "source_key", "candidate_nik",
                 "candidate_name"),
        lambda n: (n["id"], n["probability"], n["regionCode"], _get(n, "record", "source"),
                   _get(n, "record", "sourceKey"), _get(n, "candidate", "nik"),
                   _get(n, "candidate", "name")),
        ("region",), connection=False),
)}


def filters_of(spec: ExportList, request: Request) -> dict[str, Any]:
    """The list's filters from the address; a malformed one is the API's to refuse."""
    values: dict[str, Any] = {}
    for name in spec.filters:
        raw = request.query_params.get(name, "").strip()[:40]
        if not raw:
            continue
        if name == "desil":
            if not raw.isdigit():
                raise Refused(400, "desil")
            values[name] = int(raw)
        else:
            values[name] = raw
    if spec.name == "households" and "region" not in values:
        raise Refused(400, "region")
    return values


async def rows_of(console: Console, signed: SignedIn, spec: ExportList,
                  variables: dict[str, Any]) -> AsyncIterator[tuple[Any, ...]]:
    """Every row of the list, a page at a time, each page a read in the audit log."""
    after: str | None = None
    while True:
        found = await console.run(signed, spec.query,
                                  {**variables, "after": after, "first": PAGE})
        if found.errors:
            raise Refused(400, found.errors[0])
        page_ = found.data.get(spec.root)
        if spec.connection:
            nodes = [edge["node"] for edge in page_["edges"]]
            info = page_["pageInfo"]
            after = info["endCursor"] if info["hasNextPage"] else None
        else:
            nodes = page_ or []
            after = encode_cursor("review", [int(nodes[-1]["id"])]) \
                if len(nodes) == PAGE else None
        for node in nodes:
            yield spec.row(node)
        if after is None:
            return


def _cell(value: Any) -> Any:
    """A cell as a district office's spreadsheet wants it: text that looks like a
    formula is kept as text (no CSV injection), NIK and KK stay text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_lines(header: Iterable[str], rows: AsyncIterator[tuple[Any, ...]]
              ) -> AsyncIterator[bytes]:
    async def lines() -> AsyncIterator[bytes]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        yield codecs.BOM_UTF8 + buffer.getvalue().encode()  # Excel reads it as UTF-8
        async for row in rows:
            buffer.seek(0)
            buffer.truncate()
            writer.writerow(["" if v is None else _cell(v) for v in row])
            yield buffer.getvalue().encode()
    return lines()


async def xlsx_file(header: Iterable[str], rows: AsyncIterator[tuple[Any, ...]]) -> Any:
    """The workbook in a temporary file (in memory up to 8 MB, on disk beyond)."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("data")
    sheet.append(list(header))
    async for row in rows:
        sheet.append([_cell(v) for v in row])
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115
    workbook.save(spool)
    spool.seek(0)
    return spool


def routes(console: Console) -> list[BaseRoute]:
    @page(console)
    async def export(request: Request, signed: SignedIn) -> Response:
        spec = LISTS.get(request.path_params["name"])
        fmt = request.path_params["format"]
        if spec is None or fmt not in ("csv", "xlsx"):
            raise Refused(404, "")
        if signed.officer.desk not in spec.desks:
            raise Refused(403, "")
        variables = filters_of(spec, request)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
        filename = f"slrt-{spec.name}-{stamp}.{fmt}"
        headers = {**SECURITY_HEADERS,
                   "Content-Disposition": f'attachment; filename="{filename}"'}
        rows = await primed(rows_of(console, signed, spec, variables))
        if fmt == "csv":
            return StreamingResponse(csv_lines(spec.columns, rows),
                                     media_type="text/csv; charset=utf-8", headers=headers)
        spool = await xlsx_file(spec.columns, rows)
        return StreamingResponse(_chunks(spool), headers=headers, media_type=(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))

    return [Route("/export/{name}.{format}", export)]


async def primed(rows: AsyncIterator[tuple[Any, ...]]) -> AsyncIterator[tuple[Any, ...]]:
    """The rows, with the first page already read: a refusal or an outage is answered
    as a page before any byte of the file is sent."""
    first = await anext(rows, None)

    async def again() -> AsyncIterator[tuple[Any, ...]]:
        if first is not None:
            yield first
            async for row in rows:
                yield row
    return again()


async def _chunks(spool: Any) -> AsyncIterator[bytes]:
    try:
        while chunk := spool.read(256 * 1024):
            yield chunk
    finally:
        spool.close()
