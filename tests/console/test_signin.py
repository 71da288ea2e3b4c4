"""Signing in: argon2 hashes, lock-out after repeated failures, sessions that end when
the officer signs out or is disabled, and forms that need their token."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from hub.access.clients import ClientStore
from hub.access.officers import DeskKind, OfficerError, OfficerStore
from hub.access.roles import Role
from hub.db.models import Officer as OfficerRow
from tests.access.conftest import Hub
from tests.console.helpers import PASSWORD, Officer, officer_for


async def test_passwords_are_argon2_hashes_and_wrong_ones_lock_the_account(hub: Hub) -> None:
    front = await officer_for(hub.app, hub.engine, DeskKind.FRONT, Role.DISTRICT, ("33.14",),
                              sign_in=False)
    async with hub.engine.connect() as conn:
        stored = (await conn.execute(select(OfficerRow.password_hash).where(
            OfficerRow.username == front.username))).scalar_one()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    try:
        wrong = await front.sign_in("not-the-password")
        assert wrong.status_code == 401
        assert "Nama pengguna atau kata sandi salah" in wrong.text
        assert "slrt_console=" not in wrong.headers.get("set-cookie", "")
        for _ in range(3):
            assert (await front.sign_in("still-wrong-1")).status_code == 401
        locked = await front.sign_in("still-wrong-2")  # the fifth in a row
        assert locked.status_code == 423
        assert "dikunci" in locked.text
        # Locked: even the right password is refused, without being checked.
        assert (await front.sign_in()).status_code == 423
        await OfficerStore(hub.engine, ClientStore(hub.engine)).unlock(front.username)
        assert (await front.sign_in()).status_code == 303
    finally:
        await front.aclose()


async def test_an_unknown_officer_is_answered_like_a_wrong_password(hub: Hub) -> None:
    stranger = Officer(hub.app, "nobody-here")
    try:
        answer = await stranger.sign_in()
        assert answer.status_code == 401
        assert "salah" in answer.text
    finally:
        await stranger.aclose()


async def test_signing_out_or_being_disabled_ends_the_session(hub: Hub) -> None:
    store = OfficerStore(hub.engine, ClientStore(hub.engine))
    first = await officer_for(hub.app, hub.engine, DeskKind.BACK, Role.DISTRICT, ("33.14",))
    try:
        assert (await first.get("/console/queue")).status_code == 200
        out = await first.post("/console/logout", {})
        assert out.status_code == 303
        assert out.headers["location"] == "/console/login"
        again = await first.get("/console/queue")
        assert again.status_code == 303
        assert again.headers["location"].startswith(
            "/console/login?next=/console/queue")

        assert (await first.sign_in()).status_code == 303
        assert (await first.get("/console/queue")).status_code == 200
        await store.disable(first.username)
        assert (await first.get("/console/queue")).status_code == 303
        assert (await first.sign_in()).status_code == 401
    finally:
        await first.aclose()


async def test_a_revoked_client_ends_its_officers_sessions(hub: Hub) -> None:
    officer = await officer_for(hub.app, hub.engine, DeskKind.BACK, Role.DISTRICT, ("33.14",))
    try:
        store = OfficerStore(hub.engine, ClientStore(hub.engine))
        client = (await store.get(officer.username)).client
        await ClientStore(hub.engine).revoke(client)
        hub.app.state.clients._cache.clear()  # the cache time, passed at once
        assert (await officer.get("/console/queue")).status_code == 303
    finally:
        await officer.aclose()


async def test_forms_need_their_token_and_this_origin(hub: Hub) -> None:
    back = await officer_for(hub.app, hub.engine, DeskKind.BACK, Role.DISTRICT, ("33.14",))
    try:
        no_token = await back.post("/console/logout", {}, csrf="forged")
        assert no_token.status_code == 403
        elsewhere = await back.post("/console/logout", {}, origin="http://evil.example")
        assert elsewhere.status_code == 403
        assert (await back.get("/console/queue")).status_code == 200  # still signed in
        login = await back.http.post("/console/login", data={
            "username": back.username, "password": PASSWORD})  # no login token
        assert login.status_code == 403
    finally:
        await back.aclose()


async def test_officer_accounts_are_checked_when_created(hub: Hub) -> None:
    clients = ClientStore(hub.engine)
    store = OfficerStore(hub.engine, clients)
    await clients.create(f"partner-{id(hub)}", Role.PARTNER, regions=("33.14",),
                         legal_basis="consent", purpose="tests")
    await clients.create(f"bpjs-{id(hub)}", Role.AGENCY, regions=("33.14",), agency="bpjs",
                         legal_basis="consent", purpose="tests")
    for username, client, desk, password, words in (
            ("ok-name", "no-such-client", DeskKind.FRONT, PASSWORD, "no active client"),
            ("Bad Name!", f"bpjs-{id(hub)}", DeskKind.AGENCY, PASSWORD, "username"),
            ("short-pw", f"bpjs-{id(hub)}", DeskKind.AGENCY, "short", "at least"),
            ("front-at-bpjs", f"bpjs-{id(hub)}", DeskKind.FRONT, PASSWORD, "cannot work"),
            ("partner-desk", f"partner-{id(hub)}", DeskKind.FRONT, PASSWORD, "PARTNER")):
        with pytest.raises(OfficerError, match=words):
            await store.create(username, "X", client, desk, password)
