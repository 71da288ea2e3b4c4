"""GraphiQL in a real browser (Debian's Chromium, driven by Playwright) against the real
server process: it loads with no request leaving 127.0.0.1, asks for a key, and once
given one (typed, or in the URL fragment as the demo prints it) loads the schema."""

from __future__ import annotations

import re
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from hub.schema.graphiql import ASSETS

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).is_file(), "Chromium is required (make test installs Debian's)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


def test_the_page_loads_only_from_the_hub(live_server) -> None:
    base, _ = live_server
    request = urllib.request.Request(f"{base}/graphql", headers={"accept": "text/html"})
    with urllib.request.urlopen(request, timeout=10) as response:
        html = response.read().decode()
        policy = response.headers["content-security-policy"]
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources
    assert all(s.startswith("/assets/") for s in sources), sources
    assert "default-src 'self'" in policy
    for name in ASSETS:
        with urllib.request.urlopen(f"{base}/assets/{name}", timeout=10) as response:
            assert response.status == 200
            assert len(response.read()) > 1000
    for unknown in ("../pyproject.toml", "graphiql.min.js", "..%2Fpackage.json"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{base}/assets/{unknown}", timeout=10)
        assert refused.value.code == 404


def _schema_loaded(page) -> None:
    page.get_by_role("button", name=re.compile("documentation", re.I)).first.click()
    page.get_by_text("Query", exact=True).first.wait_for(timeout=15_000)


def test_graphiql_asks_for_a_key_then_loads_the_schema(live_server, browser) -> None:
    base, key = live_server
    page = browser.new_page()
    elsewhere: list[str] = []
    page.on("request", lambda r: urlsplit(r.url).hostname not in ("127.0.0.1", None)
            and not r.url.startswith("data:") and elsewhere.append(r.url))
    page.goto(f"{base}/graphql")
    page.wait_for_selector(".graphiql-container", timeout=15_000)
    assert "Masukkan kunci API" in page.text_content("#key-state")
    page.fill("#key", key)
    page.click("text=Pakai / Use")
    assert "Kunci terpasang" in page.text_content("#key-state")
    _schema_loaded(page)
    assert elsewhere == []
    page.close()


def test_a_key_in_the_fragment_is_taken_and_removed_from_the_address(live_server, browser) -> None:
    base, key = live_server
    page = browser.new_page()
    page.goto(f"{base}/graphql#key={key}")
    page.wait_for_selector(".graphiql-container", timeout=15_000)
    _schema_loaded(page)
    assert key not in page.url
    page.close()
