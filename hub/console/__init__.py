"""The SLRT desk console at /console: server-rendered pages for the people who work
the desk (front and back office, the SLRT manager, data stewards, agency desks),
in Bahasa Indonesia first. Officers sign in with a password; every page reads and
writes through the GraphQL endpoint's own access rules and audit (`hub.console.web`).
Everything the pages load is served by the hub: it works with no internet."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route

from hub.access.clients import ClientStore
from hub.access.officers import OfficerStore
from hub.config import HubSettings
from hub.console.pages import routes
from hub.console.web import PREFIX, Console
from hub.schema.http import GraphQLEndpoint

STATIC = Path(__file__).parent / "static"
# Only these files, by name: no path from the request reaches the file system.
STATIC_FILES = {"console.css": "text/css; charset=utf-8",
                "console.js": "text/javascript; charset=utf-8"}


STATIC_HEADERS = {"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"}


def static_endpoint(console: Console) -> Callable[[Request], Awaitable[Response]]:
    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name == "htmx.js" and console.htmx is not None:
            return FileResponse(console.htmx, media_type="text/javascript; charset=utf-8",
                                headers=STATIC_HEADERS)
        if name not in STATIC_FILES:
            return PlainTextResponse("not found", status_code=404)
        return FileResponse(STATIC / name, media_type=STATIC_FILES[name],
                            headers=STATIC_HEADERS)
    return static


def mount(settings: HubSettings, graphql: GraphQLEndpoint, clients: ClientStore) -> Mount:
    console_settings = settings.console
    officers = OfficerStore(graphql.engine, clients,
                            session_minutes=console_settings.session_minutes,
                            max_failures=console_settings.max_failures,
                            lockout_minutes=console_settings.lockout_minutes)
    console = Console(settings, graphql, officers)
    return Mount(PREFIX, routes=[Route("/static/{name}", static_endpoint(console)),
                                 *routes(console)])
