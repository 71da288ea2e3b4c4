"""/metrics as an operator reads it after a sync: every connector's lag and failures,
the circuit breaker, reconciliation's duration, the review queue, open findings by kind
and agency, the outboxes, the audit writer and the connection pool."""

from __future__ import annotations

import re

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.app import create_app
from hub.config import HubSettings
from hub.db.models import Finding, ReviewTask
from tests.schema.helpers import GraphQLClient
from tests.sync.conftest import sync_all


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def test_metrics_show_the_hubs_state(hub_engine: AsyncEngine, hub_settings: HubSettings,
                                           agencies: dict[str, str]) -> None:
    async with aiohttp.ClientSession() as session:  # one agency down for this sync
        await (await session.post(agencies["baznas"] + "/_sim/faults",
                                  json={"error_rate": 1.0})).read()
    await sync_all(hub_engine, hub_settings)
    client = GraphQLClient(create_app(hub_settings, engine=hub_engine))
    try:
        await client.http.get("/healthz")  # a request, so the request metrics exist
        text = (await client.http.get("/metrics")).text
    finally:
        await client.aclose()
    samples = _samples(text)
    lag = {labels[0][1]: value for (name, labels), value in samples.items()
           if name == "hub_connector_lag_seconds"}
    assert set(lag) == set(hub_settings.connectors) - {"baznas"}  # baznas never succeeded
    assert all(0 <= seconds < 600 for seconds in lag.values())
    assert samples[("hub_connector_last_run_failed", (("connector", "baznas"),))] == 1
    assert samples[("hub_connector_last_run_failed", (("connector", "bpjs"),))] == 0
    assert samples[("hub_connector_failures_last_day", (("connector", "baznas"),))] >= 1
    assert samples[("hub_reconcile_duration_seconds", ())] > 0
    async with hub_engine.connect() as conn:
        tasks = (await conn.execute(select(func.count()).select_from(ReviewTask).where(
            ReviewTask.status == "OPEN"))).scalar_one()
        findings = (await conn.execute(select(Finding.kind, Finding.owner_agency,
                                              func.count()).where(Finding.status == "OPEN")
                                       .group_by(Finding.kind, Finding.owner_agency))).all()
    assert samples[("hub_review_tasks_open", ())] == tasks
    assert findings
    for kind, owner, count in findings:
        assert samples[("hub_findings_open", (("agency", owner or ""), ("kind", kind)))] == count
    assert ("hub_audit_flush_failures_total", ()) in samples
    assert samples[("hub_db_pool_connections", (("state", "checked_out"),))] >= 0
    assert re.search(r"^# HELP hub_connector_circuit_open ", text, re.M)

    # Every metric the shipped Grafana dashboard plots is one the hub exports.
    import json
    from pathlib import Path

    dashboard = json.loads((Path(__file__).parents[2] / "deploy" / "grafana"
                            / "slrt-hub.json").read_text())
    exported = {s_name for s_name, _ in samples} | {
        family.name for family in text_string_to_metric_families(text)}
    plotted = {name for panel in dashboard["panels"] for target in panel["targets"]
               for name in re.findall(r"\bhub_[a-z_]+", target["expr"])}
    assert len(plotted) >= 15
    assert plotted <= exported, plotted - exported
