"""GraphQL over HTTP, as the GraphQL-over-HTTP specification describes it.

Our own endpoint rather than a framework view because the status codes are the contract:
with `Accept: application/graphql-response+json` a request the server cannot execute
(bad JSON, a parse or validation error, variables that do not coerce) is a 4xx with no
`data`, while legacy `application/json` clients get 200 and the errors in the body.
Browsers asking for HTML get GraphiQL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from graphql import OperationType
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send
from strawberry.http.ides import get_graphql_ide_html

from hub.config import HubSettings
from hub.schema.context import HubContext
from hub.schema.errors import format_error
from hub.schema.executor import DocumentCache, HubSchema, execute_prepared

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
MAX_BODY_BYTES = 1_000_000


class RequestProblem(Exception):
    """The HTTP request itself is wrong; answered before any GraphQL runs."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


@dataclass(frozen=True, slots=True)
class GraphQLParams:
    query: str
    variables: dict[str, Any] | None
    operation_name: str | None
    extensions: dict[str, Any] | None


def negotiate(accept: str | None) -> str | None:
    """The response media type for an Accept header, or None when we offer none of it."""
    if not accept:
        return JSON
    best: tuple[float, int, str] | None = None
    for position, part in enumerate(accept.split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        media = media.lower()
        offer = {
            GRAPHQL_RESPONSE: GRAPHQL_RESPONSE, JSON: JSON, "application/*": JSON, "*/*": JSON,
        }.get(media)
        if offer and quality > 0:
            # Highest quality wins; on a tie the client's first listed.
            rank = (quality, -position, offer)
            if best is None or rank[:2] > best[:2]:
                best = rank
    return best[2] if best else None


def wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _object_or_none(value: Any, name: str) -> dict[str, Any] | None:
    if value is None or isinstance(value, dict):
        return value
    raise RequestProblem(400, f"{name} must be a JSON object or null")


def params_from_mapping(data: Any, *, from_query_string: bool = False) -> GraphQLParams:
    if not isinstance(data, dict):
        raise RequestProblem(400, "the request body must be a JSON object")
    query = data.get("query")
    if query is None:
        raise RequestProblem(400, "the query parameter is missing")
    if not isinstance(query, str):
        raise RequestProblem(400, "query must be a string")
    operation_name = data.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise RequestProblem(400, "operationName must be a string or null")
    variables, extensions = data.get("variables"), data.get("extensions")
    if from_query_string:
        variables = _json_param(variables, "variables")
        extensions = _json_param(extensions, "extensions")
    return GraphQLParams(
        query=query,
        variables=_object_or_none(variables, "variables"),
        operation_name=operation_name or None,
        extensions=_object_or_none(extensions, "extensions"),
    )


def _json_param(value: str | None, name: str) -> Any:
    if value is None or value == "":
        return None
    try:
        return json.loads(value)
    except ValueError:
        raise RequestProblem(400, f"{name} is not valid JSON") from None


async def read_post(request: Request) -> GraphQLParams:
    content_type = request.headers.get("content-type")
    if not content_type:
        raise RequestProblem(415, "POST needs Content-Type: application/json")
    media, *params = (p.strip().lower() for p in content_type.split(";"))
    if media != JSON:
        raise RequestProblem(415, f"unsupported Content-Type {media!r}; send application/json")
    for param in params:
        name, _, value = param.partition("=")
        if name == "charset" and value.strip('"') not in {"utf-8", "utf8"}:
            raise RequestProblem(415, f"unsupported charset {value!r}; send utf-8")
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise RequestProblem(413, f"request body is over {MAX_BODY_BYTES} bytes")
    if not body:
        raise RequestProblem(400, "the request body is empty")
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise RequestProblem(400, "the request body is not UTF-8") from None
    except ValueError as exc:
        raise RequestProblem(400, f"the request body is not valid JSON: {exc}") from None
    return params_from_mapping(data)


class GraphQLEndpoint:
    """An ASGI endpoint serving one strawberry schema over HTTP."""

    def __init__(
        self, schema: HubSchema, engine: AsyncEngine, settings: HubSettings
    ) -> None:
        self.schema = schema
        self.engine = engine
        self.settings = settings
        self.documents = DocumentCache(schema)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        response = await self.handle(request)
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        if request.method == "GET" and wants_html(request) and "query" not in request.query_params:
            if self.settings.server.graphiql:
                return HTMLResponse(get_graphql_ide_html("graphiql"))
            return _plain(404, "GraphiQL is disabled on this server")
        media = negotiate(request.headers.get("accept"))
        if media is None:
            return _plain(406, f"cannot answer in any type of Accept; offer {GRAPHQL_RESPONSE}"
                          f" or {JSON}")
        try:
            if request.method == "GET":
                params = params_from_mapping(dict(request.query_params), from_query_string=True)
            else:
                params = await read_post(request)
            return await self.execute(request, params, media)
        except RequestProblem as problem:
            return _problem(problem, media)

    async def execute(self, request: Request, params: GraphQLParams, media: str) -> Response:
        prepared = self.documents.prepare(params.query)
        if prepared.errors:
            body = {"errors": [format_error(error) for error in prepared.errors]}
            return _result(media, body, request_error=True)
        operation = prepared.operation(params.operation_name)
        if operation is None:
            message = (
                f"no operation named {params.operation_name!r} in the document"
                if params.operation_name
                else "the document has several operations: say which in operationName"
            )
            return _result(media, {"errors": [{"message": message}]}, request_error=True)
        if request.method == "GET" and operation.operation is not OperationType.QUERY:
            raise RequestProblem(
                405, f"{operation.operation.value} operations need POST", {"Allow": "POST"}
            )
        assert prepared.document is not None
        result = await execute_prepared(
            self.schema,
            prepared.document,
            context=HubContext(engine=self.engine, settings=self.settings, request=request),
            variables=params.variables,
            operation_name=params.operation_name,
        )
        body: dict[str, Any] = {}
        if result.errors:
            body["errors"] = [format_error(error) for error in result.errors]
        # Variables that do not coerce give a result without data and errors without a
        # path: a request error, unlike a field error that nulled the whole result.
        request_error = result.data is None and all(
            error.path is None for error in result.errors or ()
        )
        if not request_error:
            body["data"] = result.data
        if result.extensions:
            body["extensions"] = result.extensions
        return _result(media, body, request_error=request_error)


def _result(media: str, body: dict[str, Any], *, request_error: bool) -> Response:
    status = 400 if request_error and media == GRAPHQL_RESPONSE else 200
    return Response(
        json.dumps(body, separators=(",", ":"), default=str),
        status_code=status,
        media_type=f"{media}; charset=utf-8",
    )


def _problem(problem: RequestProblem, media: str) -> Response:
    body = json.dumps({"errors": [{"message": str(problem)}]}, separators=(",", ":"))
    return Response(
        body,
        status_code=problem.status,
        media_type=f"{media}; charset=utf-8",
        headers=problem.headers,
    )


def _plain(status: int, message: str) -> Response:
    return Response(message, status_code=status, media_type="text/plain; charset=utf-8")
