"""GraphQL over HTTP, as the GraphQL-over-HTTP specification describes it.

Our own endpoint rather than a framework view because the status codes are the contract:
with `Accept: application/graphql-response+json` a request the server cannot execute
(bad JSON, a parse or validation error, variables that do not coerce) is a 4xx with no
`data`, while legacy `application/json` clients get 200 and the errors in the body.
Browsers asking for HTML get GraphiQL.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import ExecutionResult, OperationType
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from hub import jsontext, logs
from hub.access import asked, keys
from hub.access.audit import AuditEvent, AuditWriter
from hub.access.authn import AuthenticationFailed, Authenticator
from hub.access.clients import ClientStore
from hub.access.cost import CostCache, CostModel
from hub.access.documents import DocumentStore, document_hash, hash_of_id
from hub.access.ratelimit import RateLimiter
from hub.access.roles import Principal, Role
from hub.access.rules import rules_for
from hub.config import HubSettings
from hub.db.outage import unavailable
from hub.schema import graphiql
from hub.schema.context import HubContext
from hub.schema.errors import format_error
from hub.schema.executor import DocumentCache, HubSchema, execute_prepared
from hub.schema.planner import ReadPlanner

logger = logging.getLogger("hub.graphql")

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
PURPOSE_HEADER = "x-purpose"


class RequestProblem(Exception):
    """The HTTP request itself is wrong; answered before any GraphQL runs."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}
        self.code = code


@dataclass(frozen=True, slots=True)
class GraphQLParams:
    query: str | None
    variables: dict[str, Any] | None
    operation_name: str | None
    extensions: dict[str, Any] | None
    document_id: str | None = None

    def persisted_hash(self) -> str | None:
        """The trusted document the request names, if it names one."""
        if self.document_id is not None:
            digest = hash_of_id(self.document_id)
            if digest is None:
                raise RequestProblem(400, "documentId must be 'sha256:' and 64 hex digits")
            return digest
        persisted = (self.extensions or {}).get("persistedQuery")
        if isinstance(persisted, dict) and persisted.get("sha256Hash") is not None:
            digest = hash_of_id(str(persisted["sha256Hash"]))
            if digest is None:
                raise RequestProblem(400, "persistedQuery.sha256Hash must be 64 hex digits")
            return digest
        return None


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
    document_id = data.get("documentId")
    if document_id is not None and not isinstance(document_id, str):
        raise RequestProblem(400, "documentId must be a string")
    if query is None and document_id is None and not _names_persisted(data, from_query_string):
        raise RequestProblem(400, "the query parameter is missing")
    if query is not None and not isinstance(query, str):
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
        document_id=document_id,
    )


def _names_persisted(data: dict[str, Any], from_query_string: bool) -> bool:
    extensions = data.get("extensions")
    if from_query_string and isinstance(extensions, str):
        extensions = _json_param(extensions, "extensions")
    return isinstance(extensions, dict) and isinstance(extensions.get("persistedQuery"), dict)


def _json_param(value: str | None, name: str) -> Any:
    if value is None or value == "":
        return None
    try:
        return jsontext.loads(value)
    except ValueError:
        raise RequestProblem(400, f"{name} is not valid JSON") from None


async def read_post(request: Request, max_bytes: int) -> GraphQLParams:
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
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise RequestProblem(413, f"the request body is over {max_bytes} bytes")
    body = bytearray()
    async for chunk in request.stream():  # stop reading as soon as it is too big
        body += chunk
        if len(body) > max_bytes:
            raise RequestProblem(413, f"the request body is over {max_bytes} bytes")
    if not body:
        raise RequestProblem(400, "the request body is empty")
    try:
        data = jsontext.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise RequestProblem(400, "the request body is not UTF-8") from None
    except ValueError as exc:
        raise RequestProblem(400, f"the request body is not valid JSON: {exc}") from None
    return params_from_mapping(data)


class GraphQLEndpoint:
    """An ASGI endpoint serving one strawberry schema over HTTP, to authenticated
    clients, within their role's limits, with every personal-data read audited."""

    def __init__(
        self, schema: HubSchema, engine: AsyncEngine, settings: HubSettings, *,
        clients: ClientStore, documents: DocumentStore, audit: AuditWriter,
        authenticator: Authenticator,
    ) -> None:
        self.schema = schema
        self.engine = engine
        self.settings = settings
        access = settings.access
        self.access = access
        self.documents = DocumentCache(
            schema,
            lambda role: rules_for(role, introspection=access.introspection,
                                   max_depth=access.max_depth, max_aliases=access.max_aliases),
            max_tokens=access.max_tokens,
        )
        self.clients = clients
        self.authenticator = authenticator
        self.trusted = documents
        self.audit = audit
        self.limiter = RateLimiter()
        self.planner = (ReadPlanner(schema.graphql, engine.dialect.name,
                                    settings.server.max_page_size, settings.eligibility,
                                    by_province=settings.database.by_province)
                        if settings.server.read_planner else None)
        self.costs = CostCache(schema.graphql, CostModel(
            default_page=min(50, settings.server.max_page_size),
            max_page=settings.server.max_page_size))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        response = await self.handle(request)
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        if request.method == "GET" and wants_html(request) and "query" not in request.query_params:
            if self.settings.server.graphiql:
                return graphiql.page(self.settings.server.web_assets)
            return _plain(404, "GraphiQL is disabled on this server")
        media = negotiate(request.headers.get("accept"))
        if media is None:
            return _plain(406, f"cannot answer in any type of Accept; offer {GRAPHQL_RESPONSE}"
                          f" or {JSON}")
        try:
            principal = await self.authenticate(request)
            if request.method == "GET":
                params = params_from_mapping(dict(request.query_params), from_query_string=True)
            else:
                params = await read_post(request, self.access.max_body_bytes)
            query = await self.document_text(params, principal)
            return await self.execute(request, params, query, principal, media)
        except RequestProblem as problem:
            return _problem(problem, media)
        except ClientDisconnect:  # the client left mid-body: nobody to answer
            return _plain(400, "the client disconnected before sending the whole body")

    async def authenticate(self, request: Request) -> Principal:
        token = keys.bearer_token(request.headers.get("authorization"))
        challenge = {"WWW-Authenticate": 'Bearer realm="slrt-hub"'}
        if token is None:
            raise RequestProblem(401, "authentication required: send Authorization: Bearer "
                                 "<API key> (keys are issued with `slrt-hub clients create`)",
                                 challenge, code="UNAUTHENTICATED")
        try:
            principal = await self.authenticator.authenticate(token)
        except AuthenticationFailed as refused:
            raise RequestProblem(401, refused.reason,
                                 {**challenge, "WWW-Authenticate":
                                  'Bearer realm="slrt-hub", error="invalid_token"'},
                                 code="UNAUTHENTICATED") from None
        except Exception:
            logger.exception("could not check an API key")
            raise RequestProblem(503, "the hub cannot check API keys right now (its "
                                 "database is unreachable); try again shortly",
                                 {"Retry-After": "5"}, code="UNAVAILABLE") from None
        per_minute = principal.rate_per_minute or self.access.rate_per_minute
        wait = self.limiter.take(principal.client_id, per_minute)
        if wait is not None:
            raise RequestProblem(429, f"rate limit of {per_minute} requests per minute "
                                 f"exceeded; retry in {wait:.1f} s",
                                 {"Retry-After": str(max(1, round(wait)))}, code="RATE_LIMITED")
        return principal

    async def document_text(self, params: GraphQLParams, principal: Principal) -> str:
        """The query to run: the text sent, or the trusted document named. A PARTNER
        client may run only trusted documents."""
        digest = params.persisted_hash()
        if digest is not None:
            stored = await self.trusted.get(digest)
            if stored is None:
                raise RequestProblem(404, f"no trusted document with hash {digest}",
                                     code="PERSISTED_QUERY_NOT_FOUND")
            if params.query is not None and document_hash(params.query) != digest:
                raise RequestProblem(400, "the query sent does not match its hash")
            return stored
        assert params.query is not None
        if principal.role is Role.PARTNER and await self.trusted.get(
                document_hash(params.query)) is None:
            raise RequestProblem(403, "PARTNER clients may run only registered operations: "
                                 "send documentId (sha256:<hash>) of a trusted document",
                                 code="TRUSTED_DOCUMENT_REQUIRED")
        return params.query

    async def execute(self, request: Request, params: GraphQLParams, query: str,
                      principal: Principal, media: str) -> Response:
        purpose = (request.headers.get(PURPOSE_HEADER)
                   or (params.extensions or {}).get("purpose") or principal.purpose)
        started = time.perf_counter()
        body, request_error = await self.run(
            query, principal, params.variables, params.operation_name, str(purpose),
            request=request,
            queries_only="GET" if request.method == "GET" else None)
        if logger.isEnabledFor(logging.INFO):  # an access log, at INFO (off by default)
            logger.info("answered in %.1f ms%s", (time.perf_counter() - started) * 1000,
                        " with errors" if "errors" in body else "")
        return _result(media, body, request_error=request_error)

    async def run(self, query: str, principal: Principal, variables: dict[str, Any] | None,
                  operation_name: str | None, purpose: str, *, request: Any = None,
                  queries_only: str | None = None) -> tuple[dict[str, Any], bool]:
        """Run a document as `principal`, with its role's rules, cost limit, guard and
        audit: over HTTP, and for a DCI `expression` search. Returns the GraphQL
        response body and whether it is a request error. `queries_only` names the
        channel (GET, DCI) on which only queries may run."""
        prepared = self.documents.prepare(query, principal.role)
        if prepared.errors:
            self.audit_refused(prepared, principal, variables, operation_name, purpose)
            return {"errors": [format_error(error) for error in prepared.errors]}, True
        operation = prepared.operation(operation_name)
        if operation is None:
            message = (
                f"no operation named {operation_name!r} in the document"
                if operation_name
                else "the document has several operations: say which in operationName"
            )
            return {"errors": [{"message": message}]}, True
        if operation.operation is OperationType.SUBSCRIPTION:
            raise RequestProblem(400, "subscriptions run over a WebSocket at this path "
                                 "(graphql-transport-ws)", code="BAD_REQUEST")
        if queries_only and operation.operation is not OperationType.QUERY:
            raise RequestProblem(405, f"{operation.operation.value} operations need POST"
                                 if queries_only == "GET" else
                                 f"{operation.operation.value} operations cannot run by "
                                 f"{queries_only}", {"Allow": "POST"})
        assert prepared.document is not None
        cost = self.costs.cost(prepared.document, operation, variables)
        cost_report = {"cost": {"requested": cost, "maximum": self.access.max_cost}}
        if cost > self.access.max_cost:
            error = {"message": f"the query would cost {cost}; the maximum is "
                     f"{self.access.max_cost} (ask for smaller pages with `first`)",
                     "extensions": {"code": "COST_LIMIT"}}
            return {"errors": [error], "extensions": cost_report}, True
        kind = operation.operation.value
        logs.client.set(principal.name)
        logs.operation.set(f"{kind} {operation.name.value if operation.name else ''}".strip())
        event = AuditEvent(
            principal=principal, purpose=purpose[:500], operation_type=kind,
            operation=operation.name.value if operation.name else None,
            root_fields=sorted({s.name.value for s in operation.selection_set.selections
                                if hasattr(s, "name") and s.name is not None}),
            fields=list(prepared.personal_fields),
            variables=variables if kind != "query" else None,
        )
        planned = await self.planned(query, prepared, operation, principal, variables)
        if planned is not None:
            data, subjects = planned
            for kind, subject_id, identifier in subjects:
                event.note(kind, subject_id, identifier)
            result = ExecutionResult(data)
        else:
            result = await execute_prepared(
                self.schema,
                prepared.document,
                context=HubContext(engine=self.engine, settings=self.settings,
                                   principal=principal, audit=event, request=request),
                variables=variables,
                operation_name=operation_name,
            )
        if any(unavailable(error.original_error) for error in result.errors or ()):
            # No partial data: a field nulled by an outage is not an answer.
            raise RequestProblem(503, "the hub's database is unreachable right now; try "
                                 "again shortly", {"Retry-After": "5"}, code="UNAVAILABLE")
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
        body["extensions"] = {**(result.extensions or {}), **cost_report}
        event.note_asked(asked.identifiers(prepared.identifiers, variables))
        if not request_error and (event.subjects or event.operation_type != "query"
                                  or prepared.personal_fields):
            event.outcome = "errors" if result.errors else "ok"
            self.audit.record(event)
        return body, request_error

    async def planned(self, query: str, prepared: Any, operation: Any, principal: Principal,
                      variables: dict[str, Any] | None) -> Any:
        """The read planner's answer, or None when the resolvers must give it (what it
        cannot compile, or a fault of its own, which is logged: the resolvers are the
        reference, so a planner bug costs speed, never an answer)."""
        if self.planner is None:
            return None
        try:
            return await self.planner.run(self.engine, query, prepared, operation, principal,
                                          variables)
        except Exception as exc:
            if unavailable(exc):
                raise RequestProblem(503, "the hub's database is unreachable right now; "
                                     "try again shortly", {"Retry-After": "5"},
                                     code="UNAVAILABLE") from None
            logger.exception("the read planner failed; the resolvers answer instead")
            return None

    def audit_refused(self, prepared: Any, principal: Principal,
                       variables: dict[str, Any] | None, operation_name: str | None,
                       purpose: str) -> None:
        """A request refused for a field its role may not use is audited: it is an
        attempt on personal data, and the persons it named see it in their trail."""
        if not any((error.extensions or {}).get("code") == "FORBIDDEN"
                   for error in prepared.errors):
            return
        operation = prepared.operation(operation_name) if prepared.document else None
        event = AuditEvent(
            principal=principal, purpose=purpose[:500],
            operation_type=operation.operation.value if operation else "query",
            operation=operation.name.value if operation and operation.name else None,
            root_fields=sorted({s.name.value for s in operation.selection_set.selections
                                if getattr(s, "name", None) is not None}) if operation else [],
            fields=[], outcome="refused")
        event.note_asked(asked.identifiers(prepared.identifiers, variables))
        self.audit.record(event)


def _result(media: str, body: dict[str, Any], *, request_error: bool) -> Response:
    status = 400 if request_error and media == GRAPHQL_RESPONSE else 200
    return Response(
        orjson.dumps(body, default=str),  # a 10,000-item batch is megabytes of JSON
        status_code=status,
        media_type=f"{media}; charset=utf-8",
    )


def _problem(problem: RequestProblem, media: str) -> Response:
    error: dict[str, Any] = {"message": str(problem)}
    if problem.code:
        error["extensions"] = {"code": problem.code}
    body = json.dumps({"errors": [error]}, separators=(",", ":"))
    return Response(
        body,
        status_code=problem.status,
        media_type=f"{media}; charset=utf-8",
        headers=problem.headers,
    )


def _plain(status: int, message: str) -> Response:
    return Response(message, status_code=status, media_type="text/plain; charset=utf-8")
