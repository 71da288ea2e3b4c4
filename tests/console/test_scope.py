"""Each officer sees what their client may see and works only their desk's pages, even
when typing a URL; the four-eyes rule compares signed-in officers."""

from __future__ import annotations

import re

from hub.access.officers import DeskKind
from hub.access.roles import Role
from tests.access.conftest import Hub, people_in
from tests.console.helpers import officer_for
from tests.schema.helpers import make_client

REGISTER = """mutation($case: CaseInput!) { registerCase(case: $case) { id ticket } }"""


async def test_a_facilitator_cannot_open_a_case_or_household_outside_their_village(
        hub: Hub) -> None:
    here, = await people_in(hub.engine, "33.14.05", 1)
    there, = await people_in(hub.engine, "33.14.01", 1)
    district = await make_client(hub.settings, hub.engine, Role.DISTRICT, ("33.14",),
                                 app=hub.app)
    elsewhere = (await district.data(REGISTER, case={
        "kind": "COMPLAINT", "category": "HEALTH", "channel": "WALK_IN", "urgency": "NORMAL",
        "description": "di desa lain", "nik": there.nik}))["registerCase"]
    await district.aclose()
    facilitator = await officer_for(hub.app, hub.engine, DeskKind.FRONT, Role.FACILITATOR,
                                    (here.region_code,))
    try:
        for path in (f"/console/cases/{elsewhere['ticket']}",
                     f"/console/household/{there.kk}",
                     f"/console/cases/{elsewhere['ticket']}/letter/1.pdf"):
            answer = await facilitator.get(path)
            assert answer.status_code == 404, path
            assert there.name not in answer.text
            assert there.nik not in answer.text
        search = await facilitator.get("/console/search", q=there.nik)
        assert there.name not in search.text
        assert "Tidak ditemukan" in search.text
        by_name = await facilitator.get("/console/search", q=there.name,
                                        region="33.14.01")
        assert there.nik not in by_name.text
        assert (await facilitator.get(f"/console/household/{here.kk}")).status_code == 200
    finally:
        await facilitator.aclose()


async def test_each_desk_keeps_to_its_pages(hub: Hub) -> None:
    front = await officer_for(hub.app, hub.engine, DeskKind.FRONT, Role.DISTRICT, ("33.14",))
    agency = await officer_for(hub.app, hub.engine, DeskKind.AGENCY, Role.AGENCY, ("33.14",),
                               "bpjs")
    try:
        for path in ("/console/approvals", "/console/queue", "/console/referrals"):
            answer = await front.get(path)
            assert answer.status_code == 403, path
            assert "meja layanan lain" in answer.text
        assert (await front.post("/console/referrals/1/approve", {})).status_code == 403
        for path in ("/console/search", "/console/cases/new", "/console/household/"
                     "3314050101010001"):
            assert (await agency.get(path)).status_code == 403, path
        home = await agency.get("/console/")
        assert home.headers["location"] == "/console/referrals"
    finally:
        await front.aclose()
        await agency.aclose()


async def test_the_four_eyes_rule_uses_the_signed_in_officer(hub: Hub) -> None:
    person, = await people_in(hub.engine, "33.14.05", 1)
    back = await officer_for(hub.app, hub.engine, DeskKind.BACK, Role.DISTRICT, ("33.14",))
    try:
        registered = await back.post("/console/cases/new", {
            "nik": person.nik, "kind": "COMPLAINT", "category": "HEALTH",
            "channel": "PHONE", "urgency": "URGENT", "description": "perlu KIS"})
        ticket = registered.headers["location"].rsplit("/", 1)[1]
        page = (await back.get(f"/console/cases/{ticket}")).text
        case_id = re.search(r'name="case_id" value="(\d+)"', page).group(1)
        await back.post(f"/console/cases/{ticket}/recommend",
                        {"case_id": case_id, "service": "KIS_PBI"})
        # The same office's API key approving in the back officer's name is refused...
        api = await make_client(hub.settings, hub.engine, Role.DISTRICT, ("33.14",),
                                app=hub.app)
        found = await api.data('query($t: String!) { serviceCase(ticket: $t) '
                               '{ referrals { id } } }', t=ticket)
        referral = found["serviceCase"]["referrals"][0]["id"]
        refused = await api.errors('mutation($id: ID!, $o: String) { approveReferral('
                                   'id: $id, officer: $o) { id } }', id=referral,
                                   o=back.username.upper())
        assert "another officer" in refused[0]["message"]
        await api.aclose()
        # ...and a manager signed in cannot type someone else's name over their own.
        manager = await officer_for(hub.app, hub.engine, DeskKind.MANAGER, Role.DISTRICT,
                                    ("33.14",))
        done = await manager.post(f"/console/referrals/{referral}/approve",
                                  {"next": f"/console/cases/{ticket}", "officer": "x"})
        assert done.headers["location"] == f"/console/cases/{ticket}"
        after = (await manager.get(f"/console/cases/{ticket}")).text
        assert "Dirujuk" in after
        assert manager.username in after
        letter = re.search(r'/console/cases/[\w-]+/letter/\d+\.pdf', after).group(0)
        pdf = await manager.get(letter)
        assert pdf.status_code == 200
        assert pdf.content.startswith(b"%PDF")
        assert pdf.headers["content-disposition"].startswith("inline")
        await manager.aclose()
    finally:
        await back.aclose()


async def test_a_kk_typed_in_search_opens_the_household_card(hub: Hub) -> None:
    person, = await people_in(hub.engine, "33.14.05", 1)
    front = await officer_for(hub.app, hub.engine, DeskKind.FRONT, Role.DISTRICT, ("33.14",))
    try:
        answer = await front.get("/console/search", q=person.kk)
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/console/household/{person.kk}"
    finally:
        await front.aclose()


async def test_pages_speak_indonesian_first_and_english_on_request(hub: Hub) -> None:
    front = await officer_for(hub.app, hub.engine, DeskKind.FRONT, Role.DISTRICT, ("33.14",))
    try:
        page = await front.get("/console/search")
        assert '<html lang="id">' in page.text
        assert "Cari warga" in page.text
        switched = await front.get("/console/lang/en", next="/console/search")
        assert switched.headers["location"] == "/console/search"
        page = await front.get("/console/search")
        assert '<html lang="en">' in page.text
        assert "Find a person" in page.text
        odd = await front.get("/console/lang/en", next="https://evil.example/")
        assert odd.headers["location"] == "/console/"
    finally:
        await front.aclose()


async def test_only_the_consoles_own_files_are_served(hub: Hub) -> None:
    front = await officer_for(hub.app, hub.engine, DeskKind.FRONT, Role.DISTRICT, ("33.14",),
                              sign_in=False)
    try:
        css = await front.get("/console/static/console.css")
        assert css.status_code == 200
        assert css.headers["content-type"].startswith("text/css")
        for name in ("../pages.py", "..%2Fweb.py", "templates", "console.css.map"):
            assert (await front.get(f"/console/static/{name}")).status_code == 404, name
        login = await front.get("/console/login")
        assert "default-src 'self'" in login.headers["content-security-policy"]
        assert login.headers["cache-control"] == "no-store"
    finally:
        await front.aclose()
