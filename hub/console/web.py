"""What every console page shares: the signed-in officer, the CSRF check, the page's
language, running a GraphQL document as the officer, and rendering.

A page never reads the database itself: it runs GraphQL documents through the same
endpoint code as an API client (`GraphQLEndpoint.run`), with the officer's principal.
So the region scope, the role's field rules, the read guard and the audit log are the
API's own, and the console cannot see more than its client's key could.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from hub.access.officers import DeskKind, OfficerStore, SignedIn
from hub.config import HubSettings
from hub.console.i18n import LOCALES, choose, translations
from hub.console.labels import labeller
from hub.schema.http import GraphQLEndpoint, RequestProblem

SESSION_COOKIE = "slrt_console"
LOGIN_COOKIE = "slrt_console_login"  # double-submit token for the sign-in form
LOCALE_COOKIE = "slrt_console_lang"
PREFIX = "/console"
TEMPLATES = Path(__file__).parent / "templates"
# htmx, from the npm packages `make` installs beside GraphiQL's (web/node_modules).
HTMX = Path("htmx.org/dist/htmx.min.js")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    # Same-origin only: no URL (they can hold a NIK) goes to another site, and forms keep
    # a real Origin header ("no-referrer" makes browsers send "Origin: null").
    "Referrer-Policy": "same-origin",
    # Pages carry personal data: no shared or back-button cache keeps them.
    "Cache-Control": "no-store",
}


class Refused(Exception):
    """The page cannot be shown to this officer (or at all); answered as a page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class GraphQLAnswer:
    data: dict[str, Any]
    errors: list[str] = field(default_factory=list)


class Console:
    """The console's shared machinery, one per app."""

    def __init__(self, settings: HubSettings, graphql: GraphQLEndpoint,
                 officers: OfficerStore) -> None:
        self.settings = settings
        self.graphql = graphql
        self.officers = officers
        self.zone = ZoneInfo(settings.console.timezone)
        # Partial updates are an addition: without the file every page still works with
        # plain forms and full page loads.
        htmx = settings.server.web_assets / HTMX
        self.htmx: Path | None = htmx if htmx.is_file() else None
        self.environments = {locale: self._environment(locale) for locale in LOCALES}

    def _environment(self, locale: str) -> Environment:
        env = Environment(loader=FileSystemLoader(TEMPLATES),
                          autoescape=select_autoescape(default=True),
                          extensions=["jinja2.ext.i18n", "jinja2.ext.do"], trim_blocks=True,
                          lstrip_blocks=True)
        env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
        env.globals["code"] = labeller(translations(locale).gettext)
        env.filters["when"] = lambda moment: self.when(moment, locale)
        env.filters["day"] = lambda value: self.day(value, locale)
        return env

    def when(self, moment: Any, locale: str) -> str:
        if not moment:
            return "–"
        if isinstance(moment, str):
            moment = datetime.fromisoformat(moment)
        return format_datetime(moment.astimezone(self.zone), "d MMM y HH:mm zzz",
                               locale=locale, tzinfo=self.zone)

    @staticmethod
    def day(value: Any, locale: str) -> str:
        if not value:
            return "–"
        if isinstance(value, str):
            value = date.fromisoformat(value)
        return format_date(value, "d MMM y", locale=locale)

    def locale(self, request: Request) -> str:
        return choose(request.cookies.get(LOCALE_COOKIE), self.settings.console.default_locale)

    def gettext(self, request: Request) -> Callable[[str], str]:
        return translations(self.locale(request)).gettext

    async def officer(self, request: Request) -> SignedIn | None:
        return await self.officers.session(request.cookies.get(SESSION_COOKIE))

    def render(self, request: Request, template: str, signed: SignedIn | None = None,
               status: int = 200, **values: Any) -> Response:
        locale = self.locale(request)
        page = self.environments[locale].get_template(template).render(
            request=request, officer=signed.officer if signed else None,
            csrf=signed.csrf if signed else None, locale=locale, prefix=PREFIX,
            desks=DeskKind, here=request.url.path, htmx=self.htmx is not None, **values)
        response = HTMLResponse(page, status_code=status, headers=SECURITY_HEADERS)
        if status >= 400 and partial(request):
            # A refusal replaces the page's main part, whatever region asked.
            response.headers.update({"HX-Retarget": "#main", "HX-Reselect": "#main",
                                     "HX-Reswap": "outerHTML"})
        return response

    async def run(self, signed: SignedIn, query: str,
                  variables: dict[str, Any] | None = None) -> GraphQLAnswer:
        """Run a document as the officer: the API's access rules and audit, with the
        officer's name in the entry. An unreachable database is a 503 page."""
        try:
            body, _ = await self.graphql.run(query, signed.principal, variables, None,
                                             signed.principal.purpose)
        except RequestProblem as problem:
            raise Refused(problem.status, str(problem)) from None
        return GraphQLAnswer(body.get("data") or {},
                             [error["message"] for error in body.get("errors", ())])


def partial(request: Request) -> bool:
    """Asked by htmx for part of a page (it still gets the whole page and picks)."""
    return request.headers.get("hx-request") == "true"


def redirect(path: str) -> Response:
    """After a POST, the page to show (303, so a reload does not post again)."""
    return RedirectResponse(PREFIX + path, status_code=303, headers=SECURITY_HEADERS)


def same_origin(request: Request) -> bool:
    """A form posted from another site is refused before its token is even read."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host")


Handler = Callable[[Request, SignedIn], Awaitable[Response]]


def page(console: Console, desks: Iterable[DeskKind] | None = None) -> Callable[
        [Handler], Callable[[Request], Awaitable[Response]]]:
    """A console page: signed in (else to the sign-in page), the officer's desk among
    `desks`, and for a POST the form's CSRF token and the same origin."""
    allowed = frozenset(desks) if desks is not None else None

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                signed = await console.officer(request)
            except Exception:  # the database is away: say so, do not sign out
                return _trouble(console, request, None, 503, "unavailable")
            if signed is None:
                if partial(request):  # the session ended: a whole page, not a part
                    return Response(status_code=204, headers={
                        "HX-Redirect": f"{PREFIX}/login?next={quote(request.url.path)}"})
                if request.method == "GET":
                    return RedirectResponse(f"{PREFIX}/login?next={request.url.path}",
                                            status_code=303)
                return _trouble(console, request, None, 401, "expired")
            if allowed is not None and signed.officer.desk not in allowed:
                return _trouble(console, request, signed, 403, "desk")
            if request.method == "POST":
                form = await request.form()
                token = str(form.get("csrf", ""))
                if not same_origin(request) or not secrets.compare_digest(
                        token.encode(), signed.csrf.encode()):
                    return _trouble(console, request, signed, 403, "csrf")
                request.state.form = form
            try:
                return await handler(request, signed)
            except Refused as refused:
                return _trouble(console, request, signed, refused.status, "refused",
                                str(refused))
        return endpoint
    return wrap


def _trouble(console: Console, request: Request, signed: SignedIn | None, status: int,
             kind: str, detail: str | None = None) -> Response:
    response = console.render(request, "trouble.html", signed, status=status, kind=kind,
                              detail=detail)
    if status == 503:
        response.headers["Retry-After"] = "5"
    return response


def form_text(request: Request, name: str, limit: int = 2000) -> str:
    value = request.state.form.get(name, "")
    return str(value).strip()[:limit] if isinstance(value, str) else ""


def with_problem(path: str, problem: str) -> str:
    """A console path that will show what the hub refused (a GraphQL error's words)."""
    joiner = "&" if "?" in path else "?"
    return f"{path}{joiner}problem={quote(problem[:300])}"
