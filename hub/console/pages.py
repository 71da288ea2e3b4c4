"""The console's pages, desk by desk. Handlers only gather the form, run GraphQL
documents as the officer and pick a template: every rule (scope, role, workflow,
four eyes) is the API's, enforced where the API enforces it."""

from __future__ import annotations

import base64
import re
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hub.access import policy
from hub.access.officers import DeskKind, SignedIn, SignInRefused
from hub.console import operations as ops
from hub.console.dashboard import routes as dashboard_routes
from hub.console.exports import routes as export_routes
from hub.console.i18n import LOCALES
from hub.console.steward import routes as steward_routes
from hub.console.web import (
    LOCALE_COOKIE,
    LOGIN_COOKIE,
    PREFIX,
    SECURITY_HEADERS,
    SESSION_COOKIE,
    Console,
    Refused,
    form_text,
    page,
    redirect,
    same_origin,
    with_problem,
)

F, B, M, S, A = (DeskKind.FRONT, DeskKind.BACK, DeskKind.MANAGER, DeskKind.STEWARD,
                 DeskKind.AGENCY)
SLRT_DESKS = (F, B, M, S)
START = {F: "/search", B: "/queue", M: "/approvals", S: "/review", A: "/referrals"}
SIXTEEN_DIGITS = re.compile(r"^\d{16}$")
CASE_CHOICES = {
    "kind": ("COMPLAINT", "QUESTION", "SUGGESTION"),
    "category": ("SOCIAL_ASSISTANCE", "HEALTH", "EDUCATION", "CIVIL_DOCUMENTS", "ECONOMIC",
                 "OTHER"),
    "channel": ("WALK_IN", "PHONE", "APP", "PUSKESOS"),
    "urgency": ("NORMAL", "URGENT", "EMERGENCY"),
}
STEP_DESKS = {"approve": (M,), "return": (M,), "resubmit": (B,), "accept": (A,),
              "reject": (A,), "fulfill": (A,)}
NEEDS_TEXT = {"return", "reject"}


def safe_next(target: str | None, fallback: str) -> str:
    """Where to go after a form: only a console path of this hub, never elsewhere."""
    if target and target.startswith(PREFIX + "/") and "//" not in target \
            and "\\" not in target and "\n" not in target:
        return target[len(PREFIX):]
    return fallback


def routes(console: Console) -> list[BaseRoute]:
    settings = console.settings.console

    async def login_form(request: Request) -> Response:
        signed = await console.officer(request)
        if signed is not None:
            return redirect(START[signed.officer.desk])
        return _login_page(request, status=200)

    def _login_page(request: Request, status: int, problem: str | None = None,
                    locked_until: Any = None) -> Response:
        token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
        response = console.render(request, "login.html", status=status, login_token=token,
                                  refusal=problem, locked_until=locked_until,
                                  next=request.query_params.get("next", ""))
        response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict",
                            secure=settings.secure_cookie, path=PREFIX)
        return response

    async def login(request: Request) -> Response:
        form = await request.form()
        token = str(form.get("login_token", ""))
        expected = request.cookies.get(LOGIN_COOKIE, "")
        if not same_origin(request) or not expected or not secrets.compare_digest(
                token.encode(), expected.encode()):
            return _login_page(request, 403, "form")
        try:
            outcome = await console.officers.sign_in(str(form.get("username", ""))[:60],
                                                     str(form.get("password", ""))[:200])
        except Exception:
            return _login_page(request, 503, "unavailable")
        if isinstance(outcome, SignInRefused):
            return _login_page(request, 423 if outcome.reason == "locked" else 401,
                               outcome.reason, outcome.locked_until)
        cookie, signed = outcome
        target = safe_next(str(form.get("next", "")), START[signed.officer.desk])
        response = redirect(target)
        response.set_cookie(SESSION_COOKIE, cookie, httponly=True, samesite="strict",
                            secure=settings.secure_cookie, path=PREFIX,
                            max_age=settings.session_minutes * 60)
        response.delete_cookie(LOGIN_COOKIE, path=PREFIX)
        return response

    @page(console)
    async def logout(request: Request, signed: SignedIn) -> Response:
        await console.officers.sign_out(request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse(PREFIX + "/login", status_code=303,
                                    headers=SECURITY_HEADERS)
        response.delete_cookie(SESSION_COOKIE, path=PREFIX)
        return response

    async def language(request: Request) -> Response:
        code = request.path_params["code"]
        target = safe_next(request.query_params.get("next"), "/")
        response = RedirectResponse(PREFIX + target, status_code=303)
        if code in LOCALES:
            response.set_cookie(LOCALE_COOKIE, code, samesite="lax", path=PREFIX,
                                max_age=365 * 24 * 3600, secure=settings.secure_cookie)
        return response

    @page(console)
    async def home(request: Request, signed: SignedIn) -> Response:
        return redirect(START[signed.officer.desk])

    # Front office ---------------------------------------------------------------------
    @page(console, SLRT_DESKS)
    async def search(request: Request, signed: SignedIn) -> Response:
        query = request.query_params.get("q", "").strip()[:200]
        regions = signed.principal.regions
        region = request.query_params.get("region", "").strip()[:13] or (
            regions[0] if regions else "")
        persons: list[dict[str, Any]] = []
        errors: list[str] = []
        household_kk: str | None = None
        if SIXTEEN_DIGITS.match(query):
            found = await console.run(signed, ops.FIND_BY_NIK, {"nik": query})
            errors = found.errors
            if found.data.get("person"):
                persons = [found.data["person"]]
            else:  # not a NIK the registry holds here: perhaps a KK
                card = await console.run(signed, ops.HOUSEHOLD, {"kk": query})
                if card.data.get("household"):
                    household_kk = query
        elif query:
            found = await console.run(signed, ops.FIND_BY_NAME,
                                      {"name": query, "region": region})
            errors, persons = found.errors, found.data.get("searchPersons") or []
        if household_kk:
            return redirect(f"/household/{household_kk}")
        return console.render(request, "search.html", signed, query=query, region=region,
                              regions=regions, persons=persons, errors=errors,
                              searched=bool(query))

    @page(console, SLRT_DESKS)
    async def household(request: Request, signed: SignedIn) -> Response:
        kk = request.path_params["kk"]
        if not SIXTEEN_DIGITS.match(kk):
            raise Refused(404, "")
        card = await console.run(signed, ops.HOUSEHOLD, {"kk": kk})
        found = card.data.get("household")
        if found is None:
            raise Refused(404, "")
        return console.render(request, "household.html", signed, household=found,
                              findings=await _open_findings(signed, found),
                              errors=card.errors)

    async def _open_findings(signed: SignedIn, household: dict[str, Any]
                             ) -> list[dict[str, Any]] | None:
        """The members' open findings, for a role that may read findings at all (the
        policy says which; a facilitator's card simply has no such section)."""
        if not policy.allows(signed.principal.role, "Query", "findings"):
            return None
        found = await console.run(signed, ops.VILLAGE_FINDINGS,
                                  {"region": household["villageCode"]})
        members = {m["nik"] for m in household["members"] if m.get("nik")}
        return [edge["node"] for edge in (found.data.get("findings") or {}).get("edges", ())
                if (edge["node"].get("person") or {}).get("nik") in members]

    @page(console, (F, B))
    async def new_case(request: Request, signed: SignedIn) -> Response:
        return _case_form(request, signed, {key: request.query_params.get(key, "")
                                            for key in ("nik", "kk", "name")}, [])

    def _case_form(request: Request, signed: SignedIn, values: dict[str, Any],
                   errors: list[str], status: int = 200) -> Response:
        return console.render(request, "case_new.html", signed, values=values,
                              errors=errors, choices=CASE_CHOICES, status=status)

    @page(console, (F, B))
    async def register_case(request: Request, signed: SignedIn) -> Response:
        values = {key: form_text(request, key) for key in (
            "nik", "kk", "name", "village_code", "description", *CASE_CHOICES)}
        values["new_person"] = form_text(request, "new_person") == "yes"
        case: dict[str, Any] = {key: values[key] if values[key] in CASE_CHOICES[key]
                                else CASE_CHOICES[key][0] for key in CASE_CHOICES}
        case |= {"description": values["description"], "nik": values["nik"] or None,
                 "kk": values["kk"] or None, "name": values["name"] or None,
                 "villageCode": values["village_code"] or None,
                 "newPerson": values["new_person"]}
        if not values["description"]:
            return _case_form(request, signed, values, ["description"], 400)
        done = await console.run(signed, ops.REGISTER_CASE, {"case": case})
        registered = done.data.get("registerCase")
        if registered is None:
            return _case_form(request, signed, values, done.errors or ["?"], 400)
        return redirect(f"/cases/{registered['ticket']}")

    @page(console, (F, B, M))
    async def case(request: Request, signed: SignedIn) -> Response:
        found = await console.run(signed, ops.CASE,
                                  {"ticket": request.path_params["ticket"][:40]})
        if not found.data.get("serviceCase"):
            raise Refused(404, "")
        return console.render(request, "case.html", signed, case=found.data["serviceCase"],
                              services=found.data.get("deskServices") or [],
                              errors=found.errors, problem=request.query_params.get("problem"))

    @page(console, (F, B, M))
    async def letter(request: Request, signed: SignedIn) -> Response:
        """The surat rujukan, opened in the browser."""
        found = await console.run(signed, """
            query ConsoleLetter($ticket: String!) {
              serviceCase(ticket: $ticket) { referrals { id letterPdf } }
            }""", {"ticket": request.path_params["ticket"][:40]})
        wanted = request.path_params["referral"]
        for referral in (found.data.get("serviceCase") or {}).get("referrals", ()):
            if referral["id"] == wanted and referral.get("letterPdf"):
                return Response(base64.b64decode(referral["letterPdf"]),
                                media_type="application/pdf", headers={
                                    **SECURITY_HEADERS, "Content-Disposition":
                                    f'inline; filename="surat-rujukan-{wanted}.pdf"'})
        raise Refused(404, "")

    # Back office ----------------------------------------------------------------------
    @page(console, (B, M))
    async def queue(request: Request, signed: SignedIn) -> Response:
        found = await console.run(signed, ops.QUEUE)
        cases = [edge["node"] for key in ("open", "inProgress")
                 for edge in (found.data.get(key) or {}).get("edges", ())]
        # Overdue first, then the soonest due: what the desk must answer next.
        cases.sort(key=lambda c: (not c["overdue"], c["firstResponseDue"], c["ticket"]))
        return console.render(request, "queue.html", signed, cases=cases,
                              errors=found.errors)

    @page(console, (B,))
    async def recommend(request: Request, signed: SignedIn) -> Response:
        ticket = request.path_params["ticket"][:40]
        done = await console.run(signed, ops.RECOMMEND, {
            "caseId": form_text(request, "case_id", 20),
            "service": form_text(request, "service", 40),
            "notes": form_text(request, "notes") or None})
        return _after(ticket, done.errors)

    @page(console, (B, M))
    async def close_case(request: Request, signed: SignedIn) -> Response:
        ticket = request.path_params["ticket"][:40]
        resolution = form_text(request, "resolution")
        if not resolution:
            return _after(ticket, ["resolution"])
        done = await console.run(signed, ops.CLOSE_CASE, {
            "id": form_text(request, "case_id", 20), "resolution": resolution})
        return _after(ticket, done.errors)

    def _after(ticket: str, errors: list[str]) -> Response:
        path = f"/cases/{ticket}"
        return redirect(with_problem(path, errors[0]) if errors else path)

    # Manager ---------------------------------------------------------------------------
    @page(console, (M,))
    async def approvals(request: Request, signed: SignedIn) -> Response:
        waiting = await console.run(signed, ops.REFERRALS, {"status": "RECOMMENDED"})
        overdue = await console.run(signed, """
            query ConsoleEscalations {
              referrals(overdue: true, first: 200) {
                edges { node { id service agency status dueAt escalatedAt
                               case { ticket category urgency } } }
              }
            }""")
        return console.render(request, "approvals.html", signed,
                              waiting=_nodes(waiting.data, "referrals"),
                              overdue=_nodes(overdue.data, "referrals"),
                              errors=waiting.errors + overdue.errors,
                              problem=request.query_params.get("problem"))

    # Agency desk and the workflow's steps ---------------------------------------------
    @page(console, (A,))
    async def agency_referrals(request: Request, signed: SignedIn) -> Response:
        status = request.query_params.get("status", "REFERRED")
        if status not in ("REFERRED", "ACCEPTED", "FULFILLED", "REJECTED"):
            status = "REFERRED"
        found = await console.run(signed, ops.AGENCY_REFERRALS, {"status": status})
        return console.render(request, "agency.html", signed, shown=status,
                              referrals=_nodes(found.data, "referrals"),
                              errors=found.errors, problem=request.query_params.get("problem"))

    @page(console)
    async def step(request: Request, signed: SignedIn) -> Response:
        name = request.path_params["step"]
        if name not in ops.STEPS:
            raise Refused(404, "")
        if signed.officer.desk not in STEP_DESKS[name]:
            raise Refused(403, "")
        text = form_text(request, "text") or None
        back = safe_next(form_text(request, "next", 200), START[signed.officer.desk])
        if name in NEEDS_TEXT and not text:
            return redirect(with_problem(back, "reason"))
        done = await console.run(signed, ops.STEPS[name], {
            "id": request.path_params["referral"][:20], "text": text})
        return redirect(with_problem(back, done.errors[0]) if done.errors else back)

    return [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/lang/{code}", language),
        Route("/", home),
        Route("/search", search),
        Route("/household/{kk}", household),
        Route("/cases/new", new_case, methods=["GET"]),
        Route("/cases/new", register_case, methods=["POST"]),
        Route("/cases/{ticket}", case),
        Route("/cases/{ticket}/letter/{referral}.pdf", letter),
        Route("/cases/{ticket}/recommend", recommend, methods=["POST"]),
        Route("/cases/{ticket}/close", close_case, methods=["POST"]),
        Route("/queue", queue),
        Route("/approvals", approvals),
        Route("/referrals", agency_referrals),
        Route("/referrals/{referral}/{step}", step, methods=["POST"]),
        *steward_routes(console),
        *dashboard_routes(console),
        *export_routes(console),
    ]


def _nodes(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    return [edge["node"] for edge in (data.get(key) or {}).get("edges", ())]


