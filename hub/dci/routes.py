"""The DCI social registry's search (synchronous, and asynchronous with its answer
at the sender's callback) and transaction status."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from hub.dci import searching, status
from hub.dci.envelope import Rejection, reply_header
from hub.dci.gateway import REGISTRY_ROLES, DciGateway, ack, err, faults_masked
from hub.dci.transactions import open_transaction


class RegistryEndpoints:
    """`/registry/(sync/)search` and `/registry/(sync/)txn/status`."""

    def __init__(self, gateway: DciGateway) -> None:
        self.gateway = gateway

    @faults_masked
    async def sync_search(self, request: Request) -> Response:
        opened = await self.gateway.opened(request, REGISTRY_ROLES, "search")
        if isinstance(opened, Response):
            return opened
        principal, header, message = opened.principal, opened.header, opened.message
        try:
            items = searching.search_requests(header, message)
        except Rejection as rejection:
            return self.gateway.rejected(header, rejection, 400)
        event = searching.search_event(principal, "registry/sync/search")
        tolerant = self.gateway.senders.tolerates(header.sender_id, "two_letter_locale")
        responses = [await searching.answer(self.gateway.engine, raw, principal, event,
                                            self.gateway.settings.server.max_page_size,
                                            self.gateway.expressions, tolerant_locale=tolerant)
                     for raw in items]
        self.gateway.audit.record(event)  # a search for a NIK is processing, found or not
        return await self.gateway.reply(
            reply_header(header, "on-search", "succ", sender_id=self.gateway.hub_id,
                         total=len(items), completed=len(responses)),
            searching.search_response(str(message.get("transaction_id") or ""),
                                      header.message_id, responses))

    @faults_masked
    async def search(self, request: Request) -> Response:
        """Asynchronous search: ACK now, the answer to the sender's on-search."""
        received = await self.gateway.opened_async(request, REGISTRY_ROLES, "search",
                                                   "on-search")
        if isinstance(received, Response):
            return received
        opened, target = received
        header, message = opened.header, opened.message
        try:
            items = searching.search_requests(header, message)
        except Rejection as rejection:
            return err(header.message_id, "err.request.bad",
                       f"{rejection.code}: {rejection.message}")
        async with self.gateway.engine.begin() as conn:
            await open_transaction(conn, opened.principal, header, "search", message,
                                   searching.reference_ids(items), target)
        self.gateway.wake()
        return ack(header.message_id)

    @faults_masked
    async def sync_txn_status(self, request: Request) -> Response:
        opened = await self.gateway.opened(request, REGISTRY_ROLES, "txn-status")
        if isinstance(opened, Response):
            return opened
        header = opened.header
        try:
            question = status.parse_question(opened.message)
        except Rejection as rejection:
            return self.gateway.rejected(header, rejection, 400, "txn-on-status")
        async with self.gateway.engine.connect() as conn:
            found = await status.find(conn, header.sender_id, opened.principal.client_id,
                                      question)
        answer = status.status_response(question, header.message_id, found)
        if (event := status.read_event(opened.principal, answer)) is not None:
            self.gateway.audit.record(event)
        return await self.gateway.reply(
            reply_header(header, "txn-on-status", "succ", sender_id=self.gateway.hub_id,
                         total=1, completed=1), answer)

    @faults_masked
    async def txn_status(self, request: Request) -> Response:
        received = await self.gateway.opened_async(request, REGISTRY_ROLES, "txn-status",
                                                   "txn-on-status")
        if isinstance(received, Response):
            return received
        opened, target = received
        header = opened.header
        try:
            question = status.parse_question(opened.message)
        except Rejection as rejection:
            return err(header.message_id, "err.request.bad",
                       f"{rejection.code}: {rejection.message}")
        async with self.gateway.engine.begin() as conn:
            await open_transaction(conn, opened.principal, header, "txn-status",
                                   opened.message, [question.reference_id], target)
        self.gateway.wake()
        return ack(header.message_id)
