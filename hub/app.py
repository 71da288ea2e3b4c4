"""The ASGI application: GraphQL at /graphql, liveness at /healthz, Prometheus at /metrics."""

from __future__ import annotations

import gc
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub import logs
from hub.access.audit import AuditWriter
from hub.access.authn import Authenticator
from hub.access.clients import ClientStore
from hub.access.documents import DocumentStore
from hub.access.keystore import KeyStore
from hub.config import HubSettings, get_settings
from hub.db.engine import create_engine
from hub.db.migrate import head_revision
from hub.db.models import Lease
from hub.schema import build_schema, graphiql
from hub.schema.http import GraphQLEndpoint
from hub.schema.ws import GraphQLWebSocket

if TYPE_CHECKING:
    from hub.sync.scheduler import HubScheduler


class Metrics:
    """One registry per app, so two apps in one process (tests) do not collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "hub_http_requests_total", "HTTP requests", ["path", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "hub_http_request_seconds", "HTTP request latency", ["path"], registry=self.registry
        )
        self._children: dict[tuple[str, int], tuple[Any, Any]] = {}

    def observe(self, path: str, status: int, seconds: float) -> None:
        # labels() hashes and locks on every call; the (path, status) pairs are few.
        key = (path, status)
        children = self._children.get(key)
        if children is None:
            children = (self.requests.labels(path, str(status)), self.latency.labels(path))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)


class StateCollector:
    """The hub's state (`hub.db.health`) as Prometheus gauges, read at most every
    `ttl` seconds however often Prometheus scrapes, plus what only this process knows:
    audit flushes that failed, and its database connection pool."""

    def __init__(self, engine: AsyncEngine, settings: HubSettings, audit: AuditWriter,
                 ttl: float = 15.0, planner: Any = None) -> None:
        self.engine, self.settings, self.audit, self.ttl = engine, settings, audit, ttl
        self.planner = planner
        self.health: Any = None
        self._read_at = -ttl

    async def refresh(self) -> None:
        if time.monotonic() - self._read_at < self.ttl:
            return
        from hub.db import health

        try:
            async with self.engine.connect() as conn:
                self.health = await health.read(conn, list(self.settings.connectors))
        except Exception:  # the database is away: the last figures stand, and say so
            logging.getLogger("hub.metrics").warning("could not read the hub's state")
        self._read_at = time.monotonic()

    def collect(self) -> Any:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        def gauge(name: str, text: str, labels: list[str],
                  values: list[tuple[list[str], float | None]]) -> Any:
            family = GaugeMetricFamily(name, text, labels=labels)
            for label_values, value in values:
                if value is not None:
                    family.add_metric(label_values, value)
            return family

        pool = self.engine.pool
        yield gauge("hub_db_pool_connections", "Database connections of this process",
                    ["state"], [(["checked_out"], float(getattr(pool, "checkedout", int)())),
                                (["pooled"], float(getattr(pool, "size", int)()))])
        failures = CounterMetricFamily("hub_audit_flush_failures",
                                       "Audit writes that failed (their entries are kept "
                                       "and written at the next try)")
        failures.add_metric([], float(self.audit.flush_failures))
        yield failures
        yield gauge("hub_audit_pending_entries", "Audit entries waiting to be written", [],
                    [([], float(self.audit.pending))])
        if self.planner is not None:
            reads = CounterMetricFamily("hub_graphql_reads", "Query operations, by who "
                                        "answered: the read planner's one SQL statement "
                                        "or the resolvers", labels=["path"])
            reads.add_metric(["planner"], float(self.planner.answered))
            reads.add_metric(["resolvers"], float(self.planner.stepped_aside))
            yield reads
        h = self.health
        if h is None:
            return
        yield gauge("hub_connector_lag_seconds", "Seconds since the connector's last "
                    "successful sync finished", ["connector"],
                    [([c.connector], c.lag_seconds) for c in h.connectors])
        yield gauge("hub_connector_last_run_failed", "1 when the connector's last run "
                    "failed", ["connector"],
                    [([c.connector], float(c.last_failed)) for c in h.connectors])
        yield gauge("hub_connector_circuit_open", "1 when the connector's last run stopped "
                    "because the agency kept failing", ["connector"],
                    [([c.connector], float(c.circuit_open)) for c in h.connectors])
        yield gauge("hub_connector_failures_last_day", "Failed runs in the last 24 hours",
                    ["connector"],
                    [([c.connector], float(c.failures_last_day)) for c in h.connectors])
        yield gauge("hub_reconcile_duration_seconds", "The last reconciliation's duration",
                    [], [([], h.reconcile_seconds)])
        yield gauge("hub_reconcile_lag_seconds", "Seconds since the last reconciliation "
                    "finished", [], [([], h.reconcile_lag_seconds)])
        yield gauge("hub_review_tasks_open", "Review tasks waiting for a data steward", [],
                    [([], float(h.review_tasks_open))])
        yield gauge("hub_findings_open", "Open findings", ["kind", "agency"],
                    [([kind, owner], float(n)) for (kind, owner), n in
                     sorted(h.findings_open.items())])
        for name, description, values in (
                ("hub_webhook_deliveries", "Webhook outbox, by status", h.webhooks),
                ("hub_dci_callbacks", "DCI callback outbox, by status", h.dci_callbacks),
                ("hub_sync_requests", "Syncs asked for through the API, by status",
                 h.sync_requests)):
            yield gauge(name, description, ["status"],
                        [([status], float(n)) for status, n in sorted(values.items())])


class MetricsMiddleware:
    """Counts and times requests. Plain ASGI: Starlette's BaseHTTPMiddleware would add a
    task and a stream copy to every request on the hot path."""

    TRACKED = frozenset({"/graphql", "/healthz"})

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        # The request's id: the caller's (a proxy's X-Request-Id) or a new one; in
        # every log line of the request and in the answer's headers.
        given = dict(scope.get("headers") or ()).get(b"x-request-id", b"")[:64]
        rid = given.decode("latin-1") if given else os.urandom(8).hex()
        logs.request_id.set(rid)
        logs.client.set(None)
        logs.operation.set(None)

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()),
                                      (b"x-request-id", rid.encode("latin-1"))]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            path = scope["path"] if scope["path"] in self.TRACKED else "other"
            self.metrics.observe(path, status, time.perf_counter() - started)


def create_app(settings: HubSettings | None = None, engine: AsyncEngine | None = None, *,
               scheduler: bool = False) -> Starlette:
    """The ASGI app. With `scheduler`, this replica also runs the sync scheduler (and
    leads it if no other replica does)."""
    settings = settings or get_settings()
    owns_engine = engine is None
    database = settings.database
    engine = engine or create_engine(
        database.url, echo=database.echo, pool_size=database.pool_size,
        max_overflow=database.max_overflow,
    )
    metrics = Metrics()
    audit = AuditWriter(engine, flush_seconds=settings.access.audit_flush_seconds)
    clients = ClientStore(engine, cache_seconds=settings.access.auth_cache_seconds)
    keystore = KeyStore(engine)
    authenticator = Authenticator(clients, keystore, settings.access.token_issuer,
                                  settings.access.token_audience)
    graphql = GraphQLEndpoint(build_schema(), engine, settings, clients=clients,
                              documents=DocumentStore(engine), audit=audit,
                              authenticator=authenticator)

    async def healthz(_: Request) -> Response:
        """Liveness: the process serves. It says nothing of the database, so an outage
        does not get every replica restarted (that is what /readyz is for)."""
        return JSONResponse({"status": "ok"})

    head = head_revision()

    async def readyz(_: Request) -> Response:
        """Readiness: the database answers and its schema is this code's (a replica
        started before `db upgrade`, or after a rollback, is not ready); with who leads
        the scheduler, and until when."""
        try:
            async with engine.connect() as connection:
                revision = (await connection.execute(
                    text("SELECT version_num FROM alembic_version"))).scalar()
                leader = (await connection.execute(
                    select(Lease.holder, Lease.expires_at).where(Lease.name == "scheduler"))
                          ).first()
        except Exception as exc:
            return JSONResponse({"status": "unavailable", "database": type(exc).__name__},
                                status_code=503)
        body = {"status": "ok" if revision == head else "not ready", "database": "ok",
                "migration": revision, "migration_head": head,
                "scheduler_leader": {"holder": leader.holder,
                                     "until": str(leader.expires_at)} if leader else None}
        return JSONResponse(body, status_code=200 if revision == head else 503)

    async def verify_letter(request: Request) -> Response:
        """Is this referral letter genuine? Open by design: it says only what the paper
        letter says already (no name, no NIK), and codes are 50 random-looking bits."""
        from hub.services.desk import letter_status

        found = await letter_status(engine, settings, request.path_params["code"])
        if found is None:
            return JSONResponse({"valid": False}, status_code=404)
        return JSONResponse({"valid": True, **found})

    async def referral_callback(request: Request) -> Response:
        from hub.services.callbacks import referral_callback as handle

        status, body = await handle(engine, settings, audit, request.path_params["agency"],
                                    request.headers, await request.body())
        return JSONResponse(body, status_code=status)

    async def token(request: Request) -> Response:
        from hub.dci.oauth import token_endpoint

        return await token_endpoint(request, authenticator, settings.access.token_ttl_seconds)

    from hub.dci.mount import mount

    dci = mount(engine, settings, authenticator, clients, keystore, audit, graphql)

    async def jwks(_: Request) -> Response:
        return JSONResponse(await keystore.jwks(),
                            headers={"Cache-Control": "public, max-age=300"})

    from hub.console import mount as console_mount

    console = [console_mount(settings, graphql, clients)] if settings.console.enabled else []

    state = StateCollector(engine, settings, audit, planner=graphql.planner)
    metrics.registry.register(state)

    async def metrics_endpoint(_: Request) -> Response:
        await state.refresh()
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        # Everything alive now (modules, schema, SQLAlchemy metadata) lives as long as the
        # process: freezing it keeps the collector from rescanning it in every full
        # collection, which under load showed as 40-60 ms pauses in the latency tail.
        gc.collect()
        gc.freeze()
        jobs = None
        if scheduler:
            jobs = scheduler_for(engine, settings)
            jobs.start()
        if settings.dci.worker:
            dci.worker.start()
        try:
            yield
        finally:
            await dci.worker.stop()
            if jobs is not None:
                await jobs.stop()
            await audit.close()
            gc.unfreeze()  # an app stopped inside a longer-lived process (tests) lets go
            if owns_engine:
                await engine.dispose()

    app = Starlette(
        middleware=[Middleware(MetricsMiddleware, metrics=metrics)],
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", GraphQLWebSocket(graphql)),
            Route("/", lambda _: RedirectResponse("/graphql", status_code=307)),
            Route(graphiql.ASSET_PATH + "{name}",
                  graphiql.asset_endpoint(settings.server.web_assets)),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/rujukan/verify/{code}", verify_letter),
            Route("/callbacks/{agency}/referrals", referral_callback, methods=["POST"]),
            Route("/dci/oauth2/client/token", token, methods=["POST"]),
            Route("/.well-known/jwks.json", jwks),
            *dci.routes,
            *console,
            Route("/metrics", metrics_endpoint),
        ],
        lifespan=lifespan,
    )

    app.state.engine = engine
    app.state.settings = settings
    app.state.audit = audit
    app.state.graphql = graphql
    app.state.clients = clients
    app.state.dci_worker = dci.worker
    return app


def scheduler_for(engine: AsyncEngine, settings: HubSettings) -> HubScheduler:
    """The scheduler with the desk's periodic jobs wired in (the leader delivers due
    webhooks and escalates overdue referrals): the edge is where sync and the desk
    meet, so neither imports the other."""
    from hub.services.desk import ServiceDesk
    from hub.services.webhooks import WebhookDispatcher
    from hub.sync.scheduler import HubScheduler, LeaderJob

    log = logging.getLogger("hub.sync.scheduler")

    async def deliver() -> None:
        sent = await WebhookDispatcher(engine, settings).run_once()
        if sent and sent["dead"]:
            log.error("%d webhook deliveries dead-lettered", sent["dead"])

    async def watch_sla() -> None:
        found = await ServiceDesk(engine, settings).watch()
        if found and found["escalated"]:
            log.warning("escalated %d overdue referrals", found["escalated"])

    return HubScheduler(engine, settings, leader_jobs=[
        LeaderJob("webhook delivery", settings.desk.webhook_poll_seconds, deliver),
        LeaderJob("the SLA watcher", settings.desk.watch_seconds, watch_sla, first_now=True),
    ])
