"""The DCI interface mounted in the app: its routes under /dci and the worker that
answers asynchronous requests, notifies subscribers and delivers callbacks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.routing import Route

from hub.access.audit import AuditWriter
from hub.access.authn import Authenticator
from hub.access.clients import ClientStore
from hub.access.keystore import KeyStore
from hub.config import HubSettings
from hub.dci.gateway import DciGateway
from hub.dci.ibr_endpoints import IbrEndpoints
from hub.dci.inbox import DciInboxEndpoints
from hub.dci.query import ExpressionQuery
from hub.dci.routes import RegistryEndpoints
from hub.dci.subscribing import SubscriptionEndpoints
from hub.dci.worker import DciWorker


@dataclass(frozen=True)
class Mounted:
    routes: list[Route]
    worker: DciWorker


def mount(engine: AsyncEngine, settings: HubSettings, authenticator: Authenticator,
          clients: ClientStore, keystore: KeyStore, audit: AuditWriter,
          graphql: Any) -> Mounted:
    """`graphql` is the app's GraphQL endpoint: DCI `expression` searches run there."""

    async def expressions(query: ExpressionQuery, principal: Any
                          ) -> tuple[dict[str, Any], bool]:
        return await graphql.run(query.document, principal, query.variables,
                                 query.operation_name, principal.purpose, queries_only="DCI")

    gateway = DciGateway(engine, settings, authenticator, graphql.limiter, audit, keystore,
                         expressions)
    worker = DciWorker(engine, settings, clients, keystore, audit, expressions)
    gateway.wake = worker.wake
    search = RegistryEndpoints(gateway)
    subscriptions = SubscriptionEndpoints(gateway)
    ibr = IbrEndpoints(gateway)
    inbox = DciInboxEndpoints(engine, settings, gateway.senders)
    served = {
        "sync/search": search.sync_search, "search": search.search,
        "sync/txn/status": search.sync_txn_status, "txn/status": search.txn_status,
        "subscribe": subscriptions.subscribe, "unsubscribe": subscriptions.unsubscribe,
        "sync/enrolled": ibr.sync_enrolled,
        "sync/enrollment/updates": ibr.enrollment_updates,
    }
    routes = [Route(f"/dci/registry/{path}", endpoint, methods=["POST"])
              for path, endpoint in served.items()]
    # This hub's own callbacks, as the client of other registries (after the above).
    routes.append(Route("/dci/registry/{callback:path}", inbox.receive, methods=["POST"]))
    return Mounted(routes, worker)
