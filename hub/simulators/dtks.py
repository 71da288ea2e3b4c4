"""DTKS (Kemensos / Dinsos): the poverty registry as SIKS-NG exposes it. Household rows
keyed IDBDT, individual rows keyed IDARTBDT, behind an API key, in two forms:

- the bulk export SIKS-NG produces, as CSV or XLSX, whose household rows carry legacy
  BPS kecamatan/desa codes (3 + 3 digits) rather than Kemendagri's;
- the incremental API of proposals and updates (usulan), paged after a sequence number.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from aiohttp import web
from openpyxl import Workbook

from hub.domain.crosswalk import bps_village
from hub.simulators.base import AgencySimulator, Faults, json_page
from hub.simulators.sequence_api import page_after, read_paging

CSV_CHUNK = 2000

FEEDS = {"households": "dtks_household", "individuals": "dtks_individual"}
KEYS = {"households": "IDBDT", "individuals": "IDARTBDT"}


class DtksSimulator(AgencySimulator):
    name = "dtks"

    def __init__(self, population: Path, faults: Faults | None = None,
                 api_key: str = "dtks-demo-key") -> None:
        super().__init__(population, faults)
        self.api_key = api_key
        self.feeds = {kind: self.feed(source) for kind, source in FEEDS.items()}
        self._snapshots: dict[str, tuple[str, dict[Any, int], int]] = {}

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/dtks/api/v1/{kind}", self.page),
            web.get("/dtks/export/manifest", self.export_manifest),
            web.get("/dtks/export/{kind}.{fmt}", self.export_file),
        ]

    def _refused(self, request: web.Request) -> web.Response | None:
        if request.headers.get("X-API-Key") != self.api_key:
            return web.json_response({"status": "error", "message": "API key tidak valid"},
                                     status=401)
        return None

    @property
    def export_version(self) -> str:
        """A new export whenever the registry changed."""
        return "-".join(str(feed.last_sequence) for feed in self.feeds.values())

    async def export_manifest(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        return web.json_response({
            "version": self.export_version,
            "rows": {kind: self._export_size(kind) for kind in self.feeds},
            "formats": ["csv", "xlsx"],
        })

    def _snapshot(self, kind: str) -> tuple[dict[Any, int], int]:
        """An export is a snapshot, one row a key: for keys written more than once (a
        revised dwelling, a later change) the sequence of the latest version, and the
        number of rows. Computed once per export version."""
        version = self.export_version
        cached = self._snapshots.get(kind)
        if cached and cached[0] == version:
            return cached[1], cached[2]
        key = KEYS[kind]
        seen: set[Any] = set()
        latest: dict[Any, int] = {}
        for sequence, record in self.feeds[kind].records():
            value = record.get(key)
            if value in seen:
                latest[value] = sequence
            seen.add(value)
        size = len(seen)
        self._snapshots[kind] = (version, latest, size)
        return latest, size

    def _export_size(self, kind: str) -> int:
        return self._snapshot(kind)[1]

    def export_rows(self, kind: str) -> Any:
        latest, _ = self._snapshot(kind)
        key = KEYS[kind]
        for sequence, record in self.feeds[kind].records():
            if latest.get(record.get(key), sequence) != sequence:
                continue  # an older version of a record revised since
            row = self.maybe_broken(sequence, record)
            if kind == "households" and "KDDESA" in row:
                # The export speaks BPS: 3-digit kecamatan and desa.
                code = ".".join((row["KDPROP"], row["KDKAB"], row["KDKEC"], row["KDDESA"]))
                bps = bps_village(code)
                row = {**row, "KDKEC": bps[4:7], "KDDESA": bps[7:10]}
            yield row

    async def export_file(self, request: web.Request) -> web.StreamResponse:
        if (refused := self._refused(request)) is not None:
            return refused
        kind, fmt = request.match_info["kind"], request.match_info["fmt"]
        if kind not in self.feeds or fmt not in ("csv", "xlsx"):
            raise web.HTTPNotFound(text="unknown export")
        rows = self.export_rows(kind)
        first = next(rows, None)
        columns = list(first) if first else []
        if fmt == "xlsx":
            return web.Response(body=_xlsx(columns, first, rows), headers={
                "Content-Type":
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "X-Export-Version": self.export_version,
            })
        response = web.StreamResponse(headers={
            "Content-Type": "text/csv; charset=utf-8", "X-Export-Version": self.export_version,
        })
        await response.prepare(request)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, columns, extrasaction="ignore")
        writer.writeheader()
        if first:
            writer.writerow(first)
        for count, row in enumerate(rows, 1):
            writer.writerow(row)
            if count % CSV_CHUNK == 0:
                await response.write(buffer.getvalue().encode())
                buffer.seek(0)
                buffer.truncate()
        await response.write(buffer.getvalue().encode())
        await response.write_eof()
        return response

    async def page(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        feed = self.feeds.get(request.match_info["kind"])
        if feed is None:
            raise web.HTTPNotFound(text="unknown DTKS resource")
        after, size = read_paging(request)
        records, last, more = page_after(self, feed, after, size)
        return json_page(records, status="success", next_since=last, has_more=more)

    def append(self, source: str, record: dict[str, Any]) -> int:
        return self.feeds[source].append(record)

    def break_record(self, record: dict[str, Any]) -> dict[str, Any]:
        broken = dict(record)
        if "JnsKel" in broken:
            broken["JnsKel"] = "L/P"          # not the 1/2 code the schema allows
        else:
            broken["Desil"] = "sepuluh"
        return broken


def _xlsx(columns: list[str], first: dict[str, Any] | None, rows: Any) -> bytes:
    """A write-only workbook: rows stream in without building the sheet in memory.
    Identity numbers stay text, as SIKS-NG formats them, so Excel keeps every digit."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("data")
    sheet.append(columns)
    for row in ([first] if first else []):
        sheet.append([_cell(row.get(c)) for c in columns])
    for row in rows:
        sheet.append([_cell(row.get(c)) for c in columns])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _cell(value: Any) -> Any:
    return value if value is None or isinstance(value, int | float | str) else str(value)
