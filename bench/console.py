"""Benchmark: the desk console on a large registry. How long the queue, approvals and
dashboard pages take (request to last byte, over loopback, so server time plus a
negligible network), and how an XLSX export of every household of the regency streams,
with the server's memory before and after.

    .venv/bin/python -m bench.console --persons 400000 --cases 3000

The registry is a generated district loaded as truth (PostgreSQL, production
durability); cases are registered and recommended through the desk service, as the
front and back office would. Writes bench/results/console.json.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import random
import re
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from statistics import median, quantiles

import httpx
import openpyxl
from sqlalchemy import select

from bench.common import RESULTS, ROOT, fresh_database, prepare, wait_until_answers
from bench.person_lookup import load, population
from hub.config import HubSettings
from hub.db.engine import create_engine
from hub.db.models import Person
from tests.pg_server import free_port

PASSWORD = "bench-password-123"


async def arrange(url: str, cases: int) -> None:
    """A Dinas Sosial client with a manager officer, and `cases` cases (half of them
    with a referral waiting for the manager)."""
    from hub.access.clients import ClientStore
    from hub.access.officers import DeskKind, OfficerStore
    from hub.access.roles import Role
    from hub.services.desk import NewCase, ServiceDesk

    engine = create_engine(url)
    try:
        clients = ClientStore(engine)
        await clients.create("bench-dinsos", Role.DISTRICT, regions=["33.14"],
                             legal_basis="benchmark", purpose="console bench",
                             rate_per_minute=10**9)
        await OfficerStore(engine, clients).create("manajer", "Bench Manager",
                                                   "bench-dinsos", DeskKind.MANAGER, PASSWORD)
        async with engine.connect() as conn:
            niks = list((await conn.execute(select(Person.nik).where(
                Person.nik.is_not(None)).order_by(Person.id).limit(cases * 10))).scalars())
        rng = random.Random(7)
        desk = ServiceDesk(engine, HubSettings(database={"url": url}))
        started = time.perf_counter()
        for n in range(cases):
            case_id = await desk.register(NewCase(
                kind="COMPLAINT", category=rng.choice(["HEALTH", "EDUCATION", "ECONOMIC"]),
                channel="WALK_IN", urgency=rng.choice(["NORMAL", "URGENT", "EMERGENCY"]),
                description="bench", nik=rng.choice(niks)), "bench-dinsos", lambda _: True)
            if n % 2:
                await desk.recommend(case_id, rng.choice(["KIS_PBI", "PIP", "PKH"]), None,
                                     "bench-dinsos", "belakang")
        print(f"  registered {cases:,} cases in {time.perf_counter() - started:.1f}s")
    finally:
        await engine.dispose()


def rss_kib(pid: int) -> tuple[int, int]:
    """The process's resident memory now and at its peak (KiB)."""
    status = Path(f"/proc/{pid}/status").read_text()
    now = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
    peak = int(re.search(r"VmHWM:\s+(\d+)", status).group(1))
    return now, peak


def timed(client: httpx.Client, path: str, times: int) -> dict:
    seconds = []
    for _ in range(times):
        started = time.perf_counter()
        answer = client.get(path)
        seconds.append(time.perf_counter() - started)
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
    cuts = quantiles(seconds, n=20) if len(seconds) >= 2 else seconds * 19
    return {"path": path, "requests": times, "median_ms": round(median(seconds) * 1000, 1),
            "p95_ms": round(cuts[18] * 1000, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--persons", type=int, default=400_000)
    parser.add_argument("--cases", type=int, default=3000)
    parser.add_argument("--times", type=int, default=20)
    args = parser.parse_args()
    with ExitStack() as stack:
        server = prepare(stack, ["postgresql"])
        url = fresh_database(server, "postgresql", "console")
        pop = population(args.persons)
        seconds, _, persons = asyncio.run(load(url, pop))
        print(f"  loaded {persons:,} persons in {seconds:.1f}s")
        asyncio.run(arrange(url, args.cases))
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.bench_server", "--url", url, "--port", str(port)],
            cwd=ROOT)
        stack.callback(process.kill)
        base = f"http://127.0.0.1:{port}"
        wait_until_answers(f"{base}/healthz", process, "the benchmark server")
        with httpx.Client(base_url=base, timeout=600) as client:
            form = client.get("/console/login").text
            token = re.search(r'name="login_token" value="([^"]+)"', form).group(1)
            signed = client.post("/console/login", headers={"origin": base}, data={
                "login_token": token, "username": "manajer", "password": PASSWORD})
            assert signed.status_code == 303, signed.text[:300]
            pages = [timed(client, path, args.times) for path in (
                "/console/queue", "/console/approvals", "/console/dashboard?days=30",
                "/console/dashboard?days=365")]
            before = rss_kib(process.pid)
            started = time.perf_counter()
            export = client.get("/console/export/households.xlsx?region=33.14")
            export_seconds = time.perf_counter() - started
            after = rss_kib(process.pid)
            assert export.status_code == 200
            sheet = openpyxl.load_workbook(io.BytesIO(export.content), read_only=True)["data"]
            rows = sum(1 for _ in sheet.iter_rows(values_only=True)) - 1
        result = {"persons": persons, "cases": args.cases, "pages": pages,
                  "export": {"rows": rows, "seconds": round(export_seconds, 1),
                             "bytes": len(export.content),
                             "rss_before_mib": round(before[0] / 1024),
                             "rss_after_mib": round(after[0] / 1024),
                             "peak_before_mib": round(before[1] / 1024),
                             "peak_after_mib": round(after[1] / 1024)}}
        (RESULTS / "console.json").write_text(json.dumps(result, indent=2))
        for row in pages:
            print(f"  {row['path']:<32} median {row['median_ms']:>7.1f} ms   "
                  f"p95 {row['p95_ms']:>7.1f} ms")
        e = result["export"]
        print(f"  XLSX export of {e['rows']:,} households: {e['seconds']} s, "
              f"{e['bytes'] / 1e6:.1f} MB; server RSS {e['rss_before_mib']} -> "
              f"{e['rss_after_mib']} MiB (peak {e['peak_before_mib']} -> "
              f"{e['peak_after_mib']} MiB)")


if __name__ == "__main__":
    main()
