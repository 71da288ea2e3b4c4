"""GraphQL over WebSocket, graphql-transport-ws only (the protocol of the `graphql-ws`
library; the older subscriptions-transport-ws is refused).

A connection authenticates once, in `connection_init` (`{"Authorization": "Bearer
<key>"}`, or the upgrade request's own header); every operation on it then runs with
that client's role, regions, limits and audit, exactly as over HTTP. A connection runs
at most `access.max_subscriptions_per_connection` operations at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from inspect import isawaitable
from typing import Any

from graphql import ExecutionResult, OperationType, subscribe
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from hub.access import asked, keys
from hub.access.audit import AuditEvent
from hub.access.authn import AuthenticationFailed
from hub.access.roles import Principal
from hub.schema.context import HubContext
from hub.schema.errors import format_error
from hub.schema.executor import execute_prepared, log_errors

PROTOCOL = "graphql-transport-ws"
logger = logging.getLogger("hub.graphql.ws")


class Close(Exception):
    """Ends the connection with a graphql-transport-ws close code."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class GraphQLWebSocket:
    """One handler per app; the per-connection state lives in `_Connection`."""

    def __init__(self, endpoint: Any) -> None:
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send)
        if PROTOCOL not in websocket.scope.get("subprotocols", []):
            await websocket.accept()
            await websocket.close(4406, f"Subprotocol not acceptable: use {PROTOCOL}")
            return
        await websocket.accept(subprotocol=PROTOCOL)
        await _Connection(self.endpoint, websocket).run()


class _Connection:
    def __init__(self, endpoint: Any, websocket: WebSocket) -> None:
        self.endpoint = endpoint
        self.access = endpoint.access
        self.websocket = websocket
        self.principal: Principal | None = None
        self.operations: dict[str, asyncio.Task[None]] = {}

    async def run(self) -> None:
        try:
            await self._init()
            while True:
                await self._handle(await self._message())
        except Close as close:
            await self._close(close.code, close.reason)
        except WebSocketDisconnect:
            pass
        finally:
            for task in self.operations.values():
                task.cancel()
            for task in list(self.operations.values()):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _message(self) -> dict[str, Any]:
        try:
            message = await self.websocket.receive_json()
        except (ValueError, KeyError):
            raise Close(4400, "messages must be JSON objects") from None
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            raise Close(4400, "every message needs a string `type`")
        return message

    async def _init(self) -> None:
        try:
            message = await asyncio.wait_for(
                self._message(), self.access.connection_init_timeout_seconds)
        except TimeoutError:
            raise Close(4408, "Connection initialisation timeout") from None
        if message["type"] != "connection_init":
            raise Close(4401, "Unauthorized: send connection_init first")
        payload = message.get("payload") or {}
        if not isinstance(payload, dict):
            raise Close(4400, "connection_init payload must be an object")
        header = (payload.get("Authorization") or payload.get("authorization")
                  or self.websocket.headers.get("authorization"))
        token = keys.bearer_token(header if isinstance(header, str) else None)
        try:
            principal = await self.endpoint.authenticator.authenticate(token) if token \
                else None
        except AuthenticationFailed:
            principal = None
        if principal is None:
            raise Close(4403, "Forbidden: connection_init needs a valid "
                        "\"Authorization\": \"Bearer <API key>\"")
        self.principal = principal
        await self.websocket.send_json({"type": "connection_ack"})

    async def _handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "connection_init":
            raise Close(4429, "Too many initialisation requests")
        if kind == "ping":
            await self.websocket.send_json({"type": "pong"})
        elif kind == "pong":
            return
        elif kind == "subscribe":
            await self._subscribe(message)
        elif kind == "complete":
            task = self.operations.pop(str(message.get("id")), None)
            if task is not None:
                task.cancel()
        else:
            raise Close(4400, f"unknown message type {kind!r}")

    async def _subscribe(self, message: dict[str, Any]) -> None:
        operation_id, payload = message.get("id"), message.get("payload")
        if not isinstance(operation_id, str) or not operation_id:
            raise Close(4400, "subscribe needs a string id")
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            raise Close(4400, "subscribe needs payload.query")
        if operation_id in self.operations:
            raise Close(4409, f"Subscriber for {operation_id} already exists")
        assert self.principal is not None
        limit = self.access.max_subscriptions_per_connection
        if len(self.operations) >= limit:
            await self._error(operation_id, f"this connection already runs {limit} "
                              "operations (access.max_subscriptions_per_connection); "
                              "complete one first", "SUBSCRIPTION_LIMIT")
            return
        per_minute = self.principal.rate_per_minute or self.access.rate_per_minute
        if self.endpoint.limiter.take(self.principal.client_id, per_minute) is not None:
            await self._error(operation_id, f"rate limit of {per_minute} requests per "
                              "minute exceeded", "RATE_LIMITED")
            return
        task = asyncio.create_task(self._operate(operation_id, payload))
        self.operations[operation_id] = task
        task.add_done_callback(lambda _: self.operations.pop(operation_id, None))

    async def _operate(self, operation_id: str, payload: dict[str, Any]) -> None:
        principal = self.principal
        assert principal is not None
        endpoint = self.endpoint
        prepared = endpoint.documents.prepare(payload["query"], principal.role)
        if prepared.errors:
            variables = payload.get("variables")
            endpoint.audit_refused(prepared, principal,
                                   variables if isinstance(variables, dict) else None,
                                   payload.get("operationName"), principal.purpose)
            await self._send(operation_id, "error",
                             [format_error(error) for error in prepared.errors])
            return
        operation = prepared.operation(payload.get("operationName"))
        variables = payload.get("variables")
        if operation is None or (variables is not None and not isinstance(variables, dict)):
            await self._error(operation_id, "name one operation of the document in "
                              "operationName; variables must be an object", "BAD_REQUEST")
            return
        cost = endpoint.costs.cost(prepared.document, operation, variables)
        if cost > self.access.max_cost:
            await self._error(operation_id, f"the query would cost {cost}; the maximum is "
                              f"{self.access.max_cost}", "COST_LIMIT")
            return
        event = AuditEvent(
            principal=principal, purpose=principal.purpose,
            operation_type=operation.operation.value,
            operation=operation.name.value if operation.name else None,
            root_fields=sorted({s.name.value for s in operation.selection_set.selections
                                if getattr(s, "name", None) is not None}),
            fields=list(prepared.personal_fields),
            variables=variables if operation.operation is not OperationType.QUERY else None)
        event.note_asked(asked.identifiers(prepared.identifiers, variables))
        context = HubContext(engine=endpoint.engine, settings=endpoint.settings,
                             principal=principal, audit=event, request=self.websocket)
        arguments = {"context": context, "variables": variables,
                     "operation_name": payload.get("operationName")}
        if operation.operation is OperationType.SUBSCRIPTION:
            stream = subscribe(
                endpoint.schema.graphql, prepared.document, context_value=context,
                variable_values=variables, operation_name=arguments["operation_name"],
                executor_class=endpoint.schema.execution_context_class)
            if isawaitable(stream):
                stream = await stream
            if isinstance(stream, ExecutionResult):
                await self._send(operation_id, "error",
                                 [format_error(e) for e in stream.errors or ()])
                return
            await self._stream(operation_id, stream, context)
        else:
            result = await execute_prepared(endpoint.schema, prepared.document,
                                            **arguments)
            await self._deliver(operation_id, result, context)
        await self._send(operation_id, "complete")

    async def _stream(self, operation_id: str, stream: AsyncIterator[ExecutionResult],
                      context: HubContext) -> None:
        try:
            async for result in stream:
                await self._deliver(operation_id, result, context)
        finally:
            with contextlib.suppress(Exception):
                await stream.aclose()  # type: ignore[attr-defined]

    async def _deliver(self, operation_id: str, result: ExecutionResult,
                       context: HubContext) -> None:
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            log_errors(result.errors)
            body["errors"] = [format_error(error) for error in result.errors]
        event = context.audit
        if event.subjects or event.operation_type != "query" or event.fields:
            event.outcome = "errors" if result.errors else "ok"
            self.endpoint.audit.record(event)
        # Each delivery is its own audit entry: the next one starts empty.
        context.audit = replace(event, subjects={}, at=datetime.now(UTC))
        await self._send(operation_id, "next", body)

    async def _error(self, operation_id: str, message: str, code: str) -> None:
        await self._send(operation_id, "error", [{"message": message,
                                                  "extensions": {"code": code}}])

    async def _send(self, operation_id: str, kind: str, payload: Any = None) -> None:
        message: dict[str, Any] = {"id": operation_id, "type": kind}
        if payload is not None:
            message["payload"] = payload
        if self.websocket.client_state is WebSocketState.CONNECTED:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                await self.websocket.send_json(message)

    async def _close(self, code: int, reason: str) -> None:
        if self.websocket.client_state is WebSocketState.CONNECTED:
            with contextlib.suppress(RuntimeError):
                await self.websocket.close(code, reason)
