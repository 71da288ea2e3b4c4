"""Benchmark: webhook delivery through an agency outage.

    .venv/bin/python -m bench.webhooks --referrals 200 --down-seconds 120

Starts the BPJS simulator on 127.0.0.1 and makes it answer 503 to everything; refers N
cases to it (each queues a delivery); runs the dispatcher once a second, as the
scheduler does, for the outage; then brings the agency back and measures how long
until every delivery is in, and checks that the agency holds each referral exactly
once. Writes bench/results/webhooks.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from contextlib import ExitStack
from datetime import UTC, datetime

import aiohttp
from sqlalchemy import func, select

from bench.common import RESULTS, fresh_database, prepare
from bench.person_lookup import load, population
from hub.config import load_settings
from hub.db.engine import create_engine
from hub.db.models import Person, WebhookDelivery
from hub.domain.referrals import Desk, ReferralStatus
from hub.services.desk import NewCase, ServiceDesk
from hub.services.webhooks import WebhookDispatcher
from hub.simulators.serve import running
from tests.pg_server import free_ports


async def scenario(url: str, pop, referrals: int, down: float) -> dict:
    port, = free_ports(1)
    settings = load_settings()
    async with running(pop, "127.0.0.1", {"bpjs": port}) as urls:
        desk = settings.desk.model_copy(update={
            "agencies": {"bpjs": settings.desk.agencies["bpjs"].model_copy(
                update={"webhook_url": f"{urls['bpjs']}/slrt/referrals"})},
            "webhook_backoff_max_seconds": 30.0, "webhook_attempts": 20})
        settings = settings.model_copy(update={"desk": desk})
        engine = create_engine(url)
        async with aiohttp.ClientSession() as http:
            await http.post(f"{urls['bpjs']}/_sim/faults", json={"error_rate": 1.0})
            service = ServiceDesk(engine, settings)
            async with engine.connect() as conn:
                niks = (await conn.execute(select(Person.nik).where(Person.nik.is_not(None))
                                           .limit(referrals))).scalars().all()
            for nik in niks:
                case = await service.register(NewCase(
                    "COMPLAINT", "HEALTH", "WALK_IN", "URGENT", "no KIS", nik=nik),
                    "bench", lambda _: True)
                referral = await service.recommend(case, "KIS_PBI", None, "bench", None)
                await service.move(referral, ReferralStatus.APPROVED, Desk.MANAGER, "bench")
            dispatcher = WebhookDispatcher(engine, settings)
            started = time.perf_counter()
            failed_tries = 0
            while time.perf_counter() - started < down:
                failed_tries += (await dispatcher.run_once())["retrying"]
                await asyncio.sleep(1)
            await http.post(f"{urls['bpjs']}/_sim/faults", json={})
            back = time.perf_counter()
            while True:
                await dispatcher.run_once()
                async with engine.connect() as conn:
                    pending = (await conn.execute(select(func.count()).select_from(
                        WebhookDelivery).where(WebhookDelivery.status != "DELIVERED"))
                    ).scalar_one()
                if not pending or time.perf_counter() - back > 300:
                    break
                await asyncio.sleep(1)
            drained = time.perf_counter() - back
            async with http.get(f"{urls['bpjs']}/_sim/referrals") as response:
                received = await response.json()
            async with http.get(f"{urls['bpjs']}/_sim/stats") as response:
                stats = await response.json()
        async with engine.connect() as conn:
            statuses = dict((await conn.execute(select(
                WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status))).all())
        await engine.dispose()
    ids = [r["referral_id"] for r in received]
    return {"referrals": len(niks), "down_seconds": down, "failed_tries": failed_tries,
            "drained_after_recovery_s": round(drained, 1), "statuses": statuses,
            "received": len(ids), "distinct_received": len(set(ids)),
            "duplicates_dropped_by_agency": stats.get("referral_duplicates", 0),
            "at": datetime.now(UTC).isoformat()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--referrals", type=int, default=200)
    parser.add_argument("--down-seconds", type=float, default=120)
    args = parser.parse_args()
    with ExitStack() as stack:
        server = prepare(stack, ["postgresql"])
        pop = population(10_000)
        url = fresh_database(server, "postgresql", "bench_webhooks")
        asyncio.run(load(url, pop))
        result = asyncio.run(scenario(url, pop, args.referrals, args.down_seconds))
    print(json.dumps(result, indent=1))
    (RESULTS / "webhooks.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
