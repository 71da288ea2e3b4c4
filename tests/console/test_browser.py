"""The console as officers use it: Debian's Chromium, driven by Playwright, against
the real `serve` process. One case goes through every desk, each page is checked with
axe-core for serious or critical accessibility violations, no request leaves
127.0.0.1, and a facilitator typing another village's case URL sees nothing of it.
Screenshots of each desk go to $HUB_SCREENSHOTS (the README's come from there)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from hub.db.models import Finding, ReviewTask
from tests.pg_server import free_port
from tests.redteam.conftest import district  # noqa: F401
from tests.sync.conftest import (  # noqa: F401
    agencies,
    hub_engine,
    hub_settings,
    sync_population,
)
from tests.test_graphiql_browser import CHROMIUM, FLAGS
from tests.test_live_server import create_client, serving

AXE = Path(__file__).resolve().parent.parent / "a11y/node_modules/axe-core/axe.min.js"
AXE_SOURCE = AXE.read_text() if AXE.is_file() else ""
PASSWORD = "kata-sandi-uji-coba-1"


def _officer(env: dict[str, str], username: str, client: str, desk: str) -> None:
    subprocess.run([sys.executable, "-m", "hub.cli", "officers", "create", username,
                    "--client", client, "--desk", desk, "--full-name", username.title(),
                    "--password-stdin"], input=PASSWORD + "\n", env=env, text=True,
                   capture_output=True, timeout=60, check=True)


def _graphql(base: str, key: str, query: str) -> dict:
    request = urllib.request.Request(f"{base}/graphql", data=json.dumps(
        {"query": query}).encode(), headers={"content-type": "application/json",
                                            "authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["data"]


@pytest.fixture
def desk_server(settings_for) -> Iterator[dict]:
    """A served hub with one officer per desk (and a facilitator of one village), and
    a household of that village and one of another."""
    env = {**os.environ, "HUB_DATABASE__URL": settings_for.database.url}
    tag = free_port()
    national = create_client(env, f"b-national-{tag}", "--role", "NATIONAL")
    dinsos = create_client(env, f"b-dinsos-{tag}", "--role", "DISTRICT", "--region",
                           "33.14")
    create_client(env, f"b-bpjs-{tag}", "--role", "AGENCY", "--region", "33.14",
                  "--agency", "bpjs")
    with serving(env) as base:
        pages = _graphql(base, national, """{
          here: households(region: "33.14.05", first: 1) { edges { node { kk villageCode
            members { nik name } } } }
          there: households(region: "33.14.01", first: 1) { edges { node { kk
            members { nik name } } } } }""")
        here = pages["here"]["edges"][0]["node"]
        there = pages["there"]["edges"][0]["node"]
        create_client(env, f"b-desa-{tag}", "--role", "FACILITATOR",
                      "--region", here["villageCode"])
        for desk, client in (("front", "dinsos"), ("back", "dinsos"),
                             ("manager", "dinsos"), ("agency", "bpjs")):
            _officer(env, f"{desk}-{tag}", f"b-{client}-{tag}", desk.upper())
        _officer(env, f"desa-{tag}", f"b-desa-{tag}", "FRONT")
        yield {"base": base, "tag": tag, "here": here, "there": there, "district": dinsos}


@contextmanager
def chromium() -> Iterator[object]:
    """Debian's Chromium under Playwright's sync API, on the thread that enters it (an
    async test enters it from a worker thread: the sync API refuses an event loop's)."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).is_file(), "Chromium is required (make test installs Debian's)"
    assert AXE.is_file(), "axe-core is required (make test installs it in tests/a11y)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def browser() -> Iterator[object]:
    with chromium() as launched:
        yield launched


class Desk:
    """One officer's browser tab, checking every page it lands on."""

    def __init__(self, browser, server: dict, username: str, shots: Path) -> None:
        # The page's own policy stays on: a script or style it refuses is an error below.
        self.context = browser.new_context(viewport={"width": 1200, "height": 800})
        self.page = self.context.new_page()
        self.base, self.username, self.shots = server["base"], username, shots
        self.elsewhere: list[str] = []
        self.errors: list[str] = []
        # (A page answered 404 on purpose logs "Failed to load resource"; sub-resources
        # that fail are caught by the response hook below.)
        self.page.on("console", lambda m: m.type == "error" and not m.text.startswith(
            "Failed to load resource") and self.errors.append(
                f"{self.page.url}: {m.text} at {m.location}"))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("response", lambda r: r.status == 404 and not r.request.is_navigation_request()
                     and self.errors.append(f"404 {r.url}"))
        self.page.on("request", lambda r: urlsplit(r.url).hostname not in (
            "127.0.0.1", None) and not r.url.startswith("data:")
            and self.elsewhere.append(r.url))

    def sign_in(self) -> None:
        self.page.goto(f"{self.base}/console/")
        self.page.wait_for_url(re.compile(r"/console/login"))
        self.checked("login")
        self.page.get_by_label("Nama pengguna").fill(self.username)
        self.page.get_by_label("Kata sandi").fill(PASSWORD)
        with self.page.expect_navigation():
            self.page.get_by_role("button", name="Masuk").click()
        assert "/console/login" not in self.page.url, self.page.content()

    def checked(self, shot: str | None = None) -> None:
        """No serious or critical axe violation on this page."""
        # Evaluated through the debugging protocol, not a script tag (which the page's
        # policy would rightly refuse).
        self.page.evaluate(AXE_SOURCE)
        found = self.page.evaluate("""async () => {
            const result = await axe.run(document, {resultTypes: ["violations"]});
            return result.violations.filter(v => ["serious", "critical"].includes(v.impact))
              .map(v => v.id + ": " + v.nodes.map(n => n.target.join(" ")).join(", "));
        }""")
        assert found == [], (self.page.url, found)
        if shot:
            self.page.screenshot(path=str(self.shots / f"console-{shot}.png"), full_page=True)

    def mark(self) -> None:
        self.page.evaluate("window.stillHere = true")

    def stayed(self) -> None:
        """The last action updated part of the page: it was not loaded again."""
        assert self.page.evaluate("window.stillHere === true"), self.page.url

    def close(self) -> None:
        assert self.elsewhere == [], self.elsewhere
        assert self.errors == [], self.errors
        self.context.close()


def test_a_case_through_every_desk_in_a_browser(desk_server, browser, tmp_path) -> None:
    shots = Path(os.environ.get("HUB_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    tag, here = desk_server["tag"], desk_server["here"]
    person = here["members"][0]
    front = Desk(browser, desk_server, f"front-{tag}", shots)
    front.sign_in()
    page = front.page
    page.get_by_label("NIK, nomor KK atau nama (ejaan apa pun)").fill(person["nik"])
    front.mark()
    page.get_by_role("button", name="Cari", exact=True).click()
    page.get_by_role("cell", name=person["name"]).wait_for()
    front.stayed()  # the results came into the page, which did not load again
    assert page.url.endswith(f"/console/search?q={person['nik']}&region=33.14"), page.url
    front.checked("front-search")
    page.get_by_role("link", name=here["kk"]).click()
    page.get_by_role("heading", name="Kartu keluarga").wait_for()
    front.checked("front-household")
    page.get_by_role("link", name="Catat pengaduan untuk keluarga ini").click()
    page.get_by_label("NIK", exact=True).fill(person["nik"])
    page.get_by_label("Tingkat kedaruratan").select_option("EMERGENCY")
    page.get_by_label("Kategori").select_option("HEALTH")
    page.get_by_label("Uraian").fill("Suami dirawat, keluarga belum punya KIS")
    front.checked("front-register")
    page.get_by_role("button", name="Catat dan cetak tiket").click()
    ticket = page.locator(".ticket-no").inner_text()
    assert re.fullmatch(r"SLRT-\d{4}-\d{8}-\d{6}|SLRT-[\w-]+", ticket)
    assert "Darurat" in page.content()
    front.checked("front-ticket")
    front.close()

    back = Desk(browser, desk_server, f"back-{tag}", shots)
    back.sign_in()
    back.checked("back-queue")
    back.page.get_by_role("link", name=ticket).click()
    back.page.get_by_label("Layanan", exact=True).select_option("KIS_PBI")
    back.page.get_by_label("Catatan").fill("belum terdaftar PBI")
    back.checked()
    back.page.get_by_role("button", name="Rekomendasikan", exact=True).click()
    back.page.get_by_text("Direkomendasikan").first.wait_for()
    back.close()

    manager = Desk(browser, desk_server, f"manager-{tag}", shots)
    manager.sign_in()
    manager.checked("manager-approvals")
    manager.mark()
    manager.page.get_by_role("button", name=re.compile(f"Setujui {ticket}")).click()
    manager.page.get_by_role("button", name=re.compile(f"Setujui {ticket}")).wait_for(
        state="detached")
    manager.stayed()
    manager.page.goto(f"{desk_server['base']}/console/cases/{ticket}")
    assert "Dirujuk" in manager.page.content()
    manager.checked("manager-case")
    manager.page.get_by_role("link", name="Dasbor").click()
    manager.page.get_by_role("heading", name="Kasus dan rujukan").wait_for()
    manager.checked("manager-dashboard")
    manager.close()

    agency = Desk(browser, desk_server, f"agency-{tag}", shots)
    agency.sign_in()
    agency.page.get_by_role("article", name=re.compile(ticket)).wait_for()
    agency.checked("agency-referrals")
    agency.mark()
    agency.page.get_by_role("button", name="Terima").click()
    agency.page.get_by_role("article", name=re.compile(ticket)).wait_for(state="detached")
    agency.stayed()
    agency.page.get_by_role("link", name="Diterima").click()
    agency.page.get_by_label("Layanan yang diberikan").fill("KIS PBI diterbitkan")
    agency.page.get_by_role("button", name="Tandai terpenuhi").click()
    agency.page.wait_for_load_state()
    agency.close()

    back = Desk(browser, desk_server, f"back-{tag}", shots)
    back.sign_in()
    back.page.goto(f"{desk_server['base']}/console/cases/{ticket}")
    content = back.page.content()
    assert "Terpenuhi" in content
    assert "Selesai" in content  # the case closed when its only referral settled
    back.close()


def test_a_facilitator_typing_another_villages_case_sees_nothing(desk_server, browser,
                                                                 tmp_path) -> None:
    tag, there = desk_server["tag"], desk_server["there"]
    registered = urllib.request.Request(
        f"{desk_server['base']}/graphql", data=json.dumps({"query": """mutation($n: String) {
          registerCase(case: {kind: COMPLAINT, category: HEALTH, channel: PHONE,
            urgency: NORMAL, description: "desa lain", nik: $n}) { ticket } }""",
            "variables": {"n": there["members"][0]["nik"]}}).encode(),
        headers={"content-type": "application/json",
                 "authorization": f"Bearer {desk_server['district']}"})
    with urllib.request.urlopen(registered, timeout=30) as response:
        ticket = json.load(response)["data"]["registerCase"]["ticket"]
    facilitator = Desk(browser, desk_server, f"desa-{tag}", tmp_path)
    facilitator.sign_in()
    for path in (f"/console/household/{there['kk']}", f"/console/cases/{ticket}",
                 f"/console/cases/{ticket}/letter/1.pdf"):
        answer = facilitator.page.goto(f"{desk_server['base']}{path}")
        assert answer.status == 404
        content = facilitator.page.content()
        assert there["members"][0]["name"] not in content
        assert "desa lain" not in content  # the case's description
        assert "Tidak ditemukan" in content
        facilitator.checked()
    facilitator.close()


async def test_the_steward_links_a_review_task_in_a_browser(district, tmp_path) -> None:  # noqa: F811
    """Over a reconciled district served by `slrt-hub serve`: the steward links the first
    pair of the review queue (the button pressed is the decision sent) and resolves a
    finding, each updating its list in place."""
    env = {**os.environ, "HUB_DATABASE__URL": district.settings.database.url}
    tag = free_port()
    create_client(env, f"b-steward-{tag}", "--role", "DISTRICT", "--region", "33.14")
    _officer(env, f"steward-{tag}", f"b-steward-{tag}", "STEWARD")
    shots = Path(os.environ.get("HUB_SCREENSHOTS") or tmp_path)

    def in_the_browser(base: str) -> tuple[str, str]:
        shots.mkdir(parents=True, exist_ok=True)
        with chromium() as launched:
            steward = Desk(launched, {"base": base}, f"steward-{tag}", shots)
            steward.sign_in()
            page = steward.page
            first = page.locator("article.task").first
            first.wait_for()
            steward.checked("steward-review")
            task = first.locator("form").get_attribute("action").rsplit("/", 1)[1]
            first.get_by_label("Alasan").fill("NIK dan tanggal lahir sama")
            steward.mark()
            first.get_by_role("button", name="Orang yang sama: tautkan").click()
            page.locator(f'form[action="/console/review/{task}"]').wait_for(state="detached")
            steward.stayed()
            page.get_by_role("link", name="Temuan").click()
            page.get_by_role("heading", name="Temuan", exact=True).wait_for()
            steward.checked("steward-findings")
            article = page.locator("article.card").first
            finding = article.locator("form").get_attribute("action").split("/")[-2]
            article.get_by_label("Alasan").fill("sudah dicek di lapangan")
            steward.mark()
            article.get_by_role("button", name="Selesaikan").click()
            page.locator(f'form[action="/console/findings/{finding}/resolve"]').wait_for(
                state="detached")
            steward.stayed()
            steward.close()
        return task, finding

    with serving(env) as base:
        task, finding = await asyncio.to_thread(in_the_browser, base)
    async with district.engine.connect() as conn:
        decided = (await conn.execute(select(ReviewTask.status, ReviewTask.decided_by)
                                      .where(ReviewTask.id == int(task)))).one()
        resolved = (await conn.execute(select(Finding.status, Finding.resolved_reason)
                                       .where(Finding.id == int(finding)))).one()
    assert decided.status == "LINKED", decided
    assert decided.decided_by, decided
    assert decided.decided_by.endswith(f"steward-{tag}"), decided
    assert tuple(resolved) == ("RESOLVED", "sudah dicek di lapangan")
