"""Exports a district office can open: every list as XLSX (read back with openpyxl)
and CSV, paged through the API as the officer (each page audited), whole, scoped, and
safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io

import openpyxl
import orjson
import pytest
from sqlalchemy import func, select

from hub.access.officers import DeskKind
from hub.access.roles import Role
from hub.console import exports
from hub.db.models import AuditLog, Finding, Household, ReviewTask
from tests.console.helpers import officer_for
from tests.redteam.conftest import District, district  # noqa: F401
from tests.sync.conftest import (  # noqa: F401
    agencies,
    hub_engine,
    hub_settings,
    sync_population,
)


def _xlsx(content: bytes) -> list[tuple]:
    sheet = openpyxl.load_workbook(io.BytesIO(content), read_only=True)["data"]
    return [tuple(row) for row in sheet.iter_rows(values_only=True)]


def _csv(content: bytes) -> list[list[str]]:
    assert content.startswith(b"\xef\xbb\xbf")  # so Excel reads UTF-8
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


async def test_every_list_exports_whole_in_both_formats(district: District,  # noqa: F811
                                                        monkeypatch) -> None:
    monkeypatch.setattr(exports, "PAGE", 40)  # several pages, even on a small district
    manager = await officer_for(district.app, district.engine, DeskKind.MANAGER,
                                Role.DISTRICT, ("33.14",))
    steward = await officer_for(district.app, district.engine, DeskKind.STEWARD,
                                Role.DISTRICT, ("33.14",))
    try:
        async with district.engine.connect() as conn:
            households = (await conn.execute(select(func.count(Household.id)).where(
                Household.village_code.like("33.14.%")))).scalar_one()
            findings = (await conn.execute(select(func.count(Finding.id)).where(
                Finding.status == "OPEN"))).scalar_one()
            tasks = (await conn.execute(select(func.count(ReviewTask.id)).where(
                ReviewTask.status == "OPEN"))).scalar_one()
            audited_before = (await conn.execute(select(func.max(AuditLog.id)))).scalar() or 0
        assert households > 40
        assert findings > 40

        sheet = await manager.get("/console/export/households.xlsx", region="33.14")
        assert sheet.status_code == 200
        assert sheet.headers["content-disposition"].startswith(
            'attachment; filename="slrt-households-')
        rows = _xlsx(sheet.content)
        assert rows[0][:4] == ("kk", "village", "address", "desil")
        assert len(rows) - 1 == households
        assert len({row[0] for row in rows[1:]}) == households  # no page twice
        assert all(isinstance(row[0], str) and len(row[0]) == 16 for row in rows[1:])

        listed = _csv((await manager.get("/console/export/findings.csv")).content)
        assert listed[0][:2] == ["id", "kind"]
        assert len(listed) - 1 == findings
        assert len({row[0] for row in listed[1:]}) == findings
        one_kind = _csv((await manager.get("/console/export/findings.csv",
                                           kind="ELIGIBLE_NOT_COVERED")).content)
        assert {row[1] for row in one_kind[1:]} == {"ELIGIBLE_NOT_COVERED"}

        review = _xlsx((await steward.get("/console/export/review-tasks.xlsx")).content)
        assert len(review) - 1 == tasks

        for name in ("cases", "referrals"):
            for fmt in ("csv", "xlsx"):
                answer = await manager.get(f"/console/export/{name}.{fmt}")
                assert answer.status_code == 200, (name, fmt)

        await district.flush_audit()
        async with district.engine.connect() as conn:
            entries = [orjson.loads(e) for e in (await conn.execute(
                select(AuditLog.entry).where(AuditLog.id > audited_before))).scalars()]
        pages = [e for e in entries if e.get("operation") == "ConsoleExportHouseholds"]
        assert len(pages) == -(-households // 40)  # every page, audited
        assert {e["officer"] for e in pages} == {manager.username}
    finally:
        await manager.aclose()
        await steward.aclose()


async def test_exports_keep_to_the_desk_and_the_regions(district: District) -> None:  # noqa: F811
    agency = await officer_for(district.app, district.engine, DeskKind.AGENCY, Role.AGENCY,
                               ("33.14",), "bpjs")
    narrow = await officer_for(district.app, district.engine, DeskKind.MANAGER,
                               Role.DISTRICT, (district.here,))
    try:
        assert (await agency.get("/console/export/households.csv",
                                 region="33.14")).status_code == 403
        assert (await agency.get("/console/export/nothing.csv")).status_code == 404
        assert (await agency.get("/console/export/referrals.pdf")).status_code == 404
        rows = _xlsx((await narrow.get("/console/export/households.xlsx",
                                       region="33.14")).content)
        assert rows[1:]
        assert all(row[1].startswith(district.here + ".") for row in rows[1:])
        refused = await narrow.get("/console/export/households.csv")  # no region
        assert refused.status_code == 400
        bad = await narrow.get("/console/export/households.csv", region="33.14",
                               desil="x")
        assert bad.status_code == 400
    finally:
        await agency.aclose()
        await narrow.aclose()


@pytest.mark.parametrize("text", ["=HYPERLINK(\"http://x\")", "+1", "-2", "@SUM(A1)"])
def test_a_cell_that_looks_like_a_formula_stays_text(text: str) -> None:
    assert exports._cell(text) == "'" + text
    assert exports._cell("Siti Aminah") == "Siti Aminah"
