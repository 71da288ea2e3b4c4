"""Declarative REST streams, in the manner of the Singer SDK's `RESTStream`: a stream
says where its records are (`path`, `records_path`), how its pages follow one another
(a `Paginator`) and the connector says how it proves who it is (an `Authenticator`);
fetching, retrying, pacing and the circuit breaker are `AgencyClient`'s. An agency
whose API pages in one of the usual ways is then a declaration, not code.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from hub.connectors.base import Connector, Page, Stream
from hub.connectors.http import AgencyClient, AuthError, BadResponse

Path = tuple[str, ...]


def dig(body: Any, path: Path) -> Any:
    """The value at `path` in a JSON body (an empty path: the body itself)."""
    for step in path:
        if not isinstance(body, dict) or step not in body:
            raise KeyError("/".join(path))
        body = body[step]
    return body


# -- authenticators ----------------------------------------------------------------------


class Authenticator:
    """How a connector proves who it is. The default sends nothing."""

    async def headers(self, client: AgencyClient) -> dict[str, str]:
        return {}

    async def renew(self, client: AgencyClient) -> bool:
        """After a 401: whether fresh credentials were obtained (the request is retried
        once with them)."""
        return False

    def body(self) -> dict[str, Any]:
        """Credentials some agencies want in the JSON body of each call."""
        return {}


@dataclass
class ApiKey(Authenticator):
    """A static key in a header (`X-Api-Key: ...`, or `Authorization: Bearer ...`)."""

    key: str
    header: str = "X-Api-Key"
    prefix: str = ""

    async def headers(self, client: AgencyClient) -> dict[str, str]:
        return {self.header: f"{self.prefix}{self.key}"}


class OAuth2ClientCredentials(Authenticator):
    """OAuth2 client credentials (RFC 6749 §4.4): one token shared by the connector's
    requests, fetched on first use and renewed once when the agency answers 401 (a token
    that expired mid-sync), so the page is retried rather than lost."""

    def __init__(self, name: str, token_path: str, client_id: str, client_secret: str) -> None:
        self.name = name
        self.token_path = token_path
        self.client_id = client_id
        self.client_secret = client_secret
        self._token: str | None = None
        self._lock = asyncio.Lock()

    async def headers(self, client: AgencyClient) -> dict[str, str]:
        async with self._lock:
            if self._token is None:
                self._token = await self._fetch(client)
        return {"Authorization": f"Bearer {self._token}"}

    async def renew(self, client: AgencyClient) -> bool:
        async with self._lock:
            self._token = await self._fetch(client)
        return True

    async def _fetch(self, client: AgencyClient) -> str:
        response = await client.request(  # a refused client raises AuthError
            "POST", self.token_path, expect_json=True,
            data={"grant_type": "client_credentials", "client_id": self.client_id,
                  "client_secret": self.client_secret},
        )
        token = response.data.get("access_token") if isinstance(response.data, dict) else None
        if not token:
            raise AuthError(self.name, "token endpoint answered without an access_token")
        return str(token)


@dataclass
class BodyCredentials(Authenticator):
    """Credentials carried in every call's JSON body (Dukcapil's web service)."""

    fields: dict[str, Any]

    def body(self) -> dict[str, Any]:
        return dict(self.fields)


# -- paginators --------------------------------------------------------------------------


class Paginator(ABC):
    """How one page leads to the next; the cursor is text, saved after each page."""

    @abstractmethod
    def request(self, cursor: str | None, page_size: int) -> dict[str, Any]:
        """The parameters asking for the page after `cursor`."""

    @abstractmethod
    def following(self, cursor: str | None, body: Any, records: list[Any],
                  page_size: int) -> tuple[str | None, bool]:
        """The cursor after this page, and whether more pages are there now."""


@dataclass(frozen=True)
class CursorFromBody(Paginator):
    """The agency hands back where to continue: a change-feed sequence (`since`), the
    last id seen (`after`), or an opaque cursor. `start` is what the first request sends
    (None: the parameter is left out); `numeric` sends the cursor as a number. An answer
    with no next cursor keeps the one it was asked with: the position is never lost."""

    param: str
    size_param: str
    next_path: Path
    more_path: Path
    start: str | None = "0"
    numeric: bool = False

    def request(self, cursor: str | None, page_size: int) -> dict[str, Any]:
        at: Any = cursor if cursor is not None else self.start
        if at is None:
            return {self.size_param: page_size}
        return {self.param: int(at) if self.numeric else at, self.size_param: page_size}

    def following(self, cursor: str | None, body: Any, records: list[Any],
                  page_size: int) -> tuple[str | None, bool]:
        after = dig(body, self.next_path)
        return (cursor if after is None else str(after)), bool(dig(body, self.more_path))


@dataclass(frozen=True)
class PageNumber(Paginator):
    """`?page=N&size=M`, counting from `first`; the last page is the one not full."""

    param: str = "page"
    size_param: str = "size"
    first: int = 1

    def request(self, cursor: str | None, page_size: int) -> dict[str, Any]:
        return {self.param: int(cursor) if cursor else self.first, self.size_param: page_size}

    def following(self, cursor: str | None, body: Any, records: list[Any],
                  page_size: int) -> tuple[str | None, bool]:
        page = int(cursor) if cursor else self.first
        full = len(records) >= page_size
        return str(page + 1 if full else page), full


@dataclass(frozen=True)
class Offset(Paginator):
    """`?offset=N&limit=M`; the last page is the one not full."""

    param: str = "offset"
    size_param: str = "limit"

    def request(self, cursor: str | None, page_size: int) -> dict[str, Any]:
        return {self.param: int(cursor or 0), self.size_param: page_size}

    def following(self, cursor: str | None, body: Any, records: list[Any],
                  page_size: int) -> tuple[str | None, bool]:
        return str(int(cursor or 0) + len(records)), len(records) >= page_size


# -- streams and connectors --------------------------------------------------------------


class RestStream(Stream):
    """A stream declared by where its records are and how its pages follow; GET sends
    the paginator's parameters in the query, POST in the JSON body beside the
    authenticator's credentials."""

    method: ClassVar[str] = "GET"
    path: ClassVar[str]  # may name the connector's `path_params`: "/api/{lembaga}/feed"
    records_path: ClassVar[Path] = ()
    paginator: ClassVar[Paginator]

    def __init__(self, connector: RestConnector) -> None:
        self.connector = connector

    def check(self, body: Any, records: list[Any]) -> None:
        """An agency's own way of saying no in a 200 answer; raise to stop the sync."""

    async def fetch(self, client: AgencyClient, cursor: str | None) -> Page:
        auth = self.connector.authenticator
        asked = self.paginator.request(cursor, self.connector.page_size)
        sent: dict[str, Any] = (
            {"params": {key: str(value) for key, value in asked.items()}}
            if self.method == "GET" else {"json": {**auth.body(), **asked}})
        path = self.path.format(**self.connector.path_params)
        response = await client.request(
            self.method, path, expect_json=True,
            headers=lambda: auth.headers(client), on_unauthorized=lambda: auth.renew(client),
            **sent)
        body = response.data
        try:
            records = dig(body, self.records_path)
            if not isinstance(records, list):
                raise KeyError("/".join(self.records_path))
            self.check(body, records)
            after, more = self.paginator.following(cursor, body, records,
                                                   self.connector.page_size)
        except KeyError as missing:
            raise BadResponse(self.connector.name, f"{self.method} {path}: the answer has "
                              f"no {missing.args[0] or 'list of records'}") from None
        return Page(records, after, more)


class RestConnector(Connector):
    """A connector of declared streams: its class names the stream types and the
    credentials it needs (for `hub.connectors.registry`), and builds its authenticator."""

    # Each built with the connector: declared RestStreams, or hand-written Streams for
    # what no paginator describes (DTKS's bulk export).
    stream_types: ClassVar[Sequence[Callable[[Any], Stream]]]

    def __init__(self, base_url: str, authenticator: Authenticator, *, page_size: int = 500,
                 path_params: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(base_url, **kwargs)
        self.authenticator = authenticator
        self.page_size = page_size
        self.path_params = path_params or {}
        self._streams = [stream(self) for stream in self.stream_types]

    @property
    def streams(self) -> list[Stream]:
        return list(self._streams)
