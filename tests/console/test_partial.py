"""Partial page updates (htmx): served by the hub itself, configured so that no page is
kept in the browser's storage and no script is evaluated, and every answer htmx can get
(a refusal, an ended session) reaches the officer rather than vanishing."""

from __future__ import annotations

import json
import re

from hub.access.officers import DeskKind
from hub.access.roles import Role
from hub.console.web import HTMX
from tests.access.conftest import Hub, open_hub
from tests.console.helpers import ORIGIN, officer_for

PARTIAL = {"hx-request": "true"}


def htmx_config(html: str) -> dict:
    found = re.search(r"<meta name=\"htmx-config\" content='([^']+)'>", html)
    assert found, "the page carries no htmx configuration"
    return json.loads(found.group(1))


async def test_htmx_is_served_by_the_hub_and_kept_from_storage_and_eval(hub: Hub) -> None:
    assert (hub.settings.server.web_assets / HTMX).is_file(), \
        "make test installs htmx with the web assets (web/node_modules)"
    front = await officer_for(hub.app, hub.engine, DeskKind.FRONT, Role.DISTRICT, ("33.14",))
    try:
        script = await front.get("/console/static/htmx.js")
        assert script.status_code == 200
        assert script.headers["content-type"].startswith("text/javascript")
        assert b"htmx" in script.content[:2000]
        page = await front.get("/console/search")
        assert '<script src="/console/static/htmx.js" defer></script>' in page.text
        config = htmx_config(page.text)
        assert config["historyCacheSize"] == 0  # pages hold personal data
        assert config["allowEval"] is False
        assert config["allowScriptTags"] is False
        assert config["includeIndicatorStyles"] is False  # the policy refuses inline styles
        assert any(re.fullmatch(rule["code"], "403") and rule["swap"]
                   for rule in config["responseHandling"])
        # Downloads, the letter and the language switch load whole, never into a region.
        findings = await officer_for(hub.app, hub.engine, DeskKind.STEWARD, Role.DISTRICT,
                                     ("33.14",))
        listing = await findings.get("/console/findings")
        await findings.aclose()
        for link in re.findall(r"<a [^>]*download[^>]*>", listing.text):
            assert 'hx-boost="false"' in link, link
        assert re.search(r'<a href="/console/lang/en[^"]*" lang="en" hx-boost="false">',
                         page.text)
    finally:
        await front.aclose()


async def test_a_refusal_asked_for_a_region_replaces_the_main_part(hub: Hub) -> None:
    front = await officer_for(hub.app, hub.engine, DeskKind.FRONT, Role.DISTRICT, ("33.14",))
    try:
        refused = await front.http.get("/console/approvals", headers=PARTIAL)
        assert refused.status_code == 403
        assert refused.headers["hx-retarget"] == "#main"
        assert refused.headers["hx-reselect"] == "#main"
        assert refused.headers["hx-reswap"] == "outerHTML"
        assert '<main id="main">' in refused.text
        # The same page asked by the browser itself carries no htmx instructions.
        whole = await front.get("/console/approvals")
        assert whole.status_code == 403
        assert "hx-retarget" not in whole.headers
        # A form whose token is wrong, posted from a region: still shown.
        forged = await front.http.post("/console/cases/new", data={"csrf": "nope"},
                                       headers={**PARTIAL, "origin": ORIGIN})
        assert forged.status_code == 403
        assert forged.headers["hx-retarget"] == "#main"
    finally:
        await front.aclose()


async def test_an_ended_session_sends_the_whole_tab_to_sign_in(hub: Hub) -> None:
    front = await officer_for(hub.app, hub.engine, DeskKind.FRONT, Role.DISTRICT, ("33.14",))
    try:
        await front.post("/console/logout", {})
        answer = await front.http.get("/console/search", params={"q": "x"}, headers=PARTIAL)
        assert answer.status_code == 204
        assert answer.headers["hx-redirect"] == "/console/login?next=/console/search"
        plain = await front.get("/console/search")
        assert plain.status_code == 303
        assert "/console/login" in plain.headers["location"]
    finally:
        await front.aclose()


async def test_without_htmx_installed_pages_are_plain_forms(hub: Hub, tmp_path) -> None:
    bare = hub.settings.model_copy(update={"server": hub.settings.server.model_copy(
        update={"web_assets": tmp_path})})
    plain = await open_hub(bare, hub.engine)
    front = await officer_for(plain.app, plain.engine, DeskKind.FRONT, Role.DISTRICT,
                              ("33.14",))
    try:
        page = await front.get("/console/search")
        assert page.status_code == 200
        assert "htmx" not in page.text.split("</head>")[0]
        assert '<form method="get" action="/console/search"' in page.text
        assert (await front.get("/console/static/htmx.js")).status_code == 404
    finally:
        await front.aclose()
        await plain.close()
