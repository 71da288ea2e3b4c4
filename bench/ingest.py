"""Benchmark: ingest throughput per connector into staging, SQLite and PostgreSQL, with
the five agency simulators serving over loopback from another process.

    .venv/bin/python -m bench.ingest --persons 100000 1000000

For each connector: records staged per second (first full sync) and the peak resident
memory of this process (connector, validation, staging; the simulators run apart), so a
larger district shows whether memory stays flat. Writes bench/results/ingest.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from contextlib import ExitStack, suppress
from pathlib import Path

from bench.common import RESULTS, ROOT, fresh_database, prepare, wait_until_answers
from bench.person_lookup import population
from hub.config import load_settings
from hub.connectors.registry import build_connector
from hub.connectors.runner import sync_stream
from hub.db.engine import create_engine
from hub.db.migrate import upgrade
from tests.pg_server import free_ports

NAMES = ("dtks", "dukcapil", "bpjs", "education", "baznas")


def rss_mib() -> float:
    with suppress(OSError), open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def start_simulators(pop: Path) -> tuple[subprocess.Popen, dict[str, int]]:
    ports = dict(zip(NAMES, free_ports(len(NAMES)), strict=True))
    env = {**os.environ, "HUB_SIMULATORS__PORTS": json.dumps(ports)}
    process = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "simulate", "--population", str(pop)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
    )
    wait_until_answers(f"http://127.0.0.1:{ports['baznas']}/_sim/stats", process,
                       "the simulators", seconds=120)
    return process, ports


async def ingest(url: str, ports: dict[str, int], page_size: int,
                 names: list[str]) -> list[dict]:
    await asyncio.to_thread(upgrade, url)
    settings = load_settings()
    engine = create_engine(url)
    rows = []
    try:
        for name in names:
            conf = settings.connectors[name].model_copy(update={
                "base_url": f"http://127.0.0.1:{ports[name]}", "page_size": page_size,
            })
            connector = build_connector(name, conf)
            async with connector.client() as client:
                for stream in connector.streams:
                    started = time.perf_counter()
                    result = await sync_stream(engine, connector, stream, client)
                    seconds = time.perf_counter() - started
                    c = result.counts
                    rows.append({
                        "connector": name, "stream": stream.name, "fetched": c.fetched,
                        "new": c.new, "unchanged": c.unchanged, "seconds": seconds,
                        "per_second": c.fetched / seconds if seconds else 0.0,
                        "rss_mib": rss_mib(), "error": result.error,
                    })
                    print(f"  {name}/{stream.name:20s} {c.fetched:>9,} fetched "
                          f"({c.new:,} new) {seconds:7.1f}s {rows[-1]['per_second']:>9,.0f}/s"
                          f"  RSS {rows[-1]['rss_mib']:.0f} MiB"
                          + (f"  FAILED {result.error}" if result.error else ""), flush=True)
    finally:
        await engine.dispose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, nargs="+", default=[100_000])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--page-size", type=int, default=2000)
    parser.add_argument("--connectors", nargs="+", default=list(NAMES), choices=NAMES)
    args = parser.parse_args()
    report = []
    with ExitStack() as stack:
        server = prepare(stack, args.backends)
        for persons in args.persons:
            pop = population(persons)
            simulators, ports = start_simulators(pop)
            try:
                for backend in args.backends:
                    url = fresh_database(server, backend, f"ingest_{persons}")
                    print(f"{backend}, district of {persons:,} persons:", flush=True)
                    rows = asyncio.run(ingest(url, ports, args.page_size, args.connectors))
                    report += [{"backend": backend, "persons": persons, **r} for r in rows]
            finally:
                simulators.terminate()
                simulators.wait(timeout=30)
    print("\n| backend | persons | stream | fetched | new | seconds | records/s | RSS MiB |")
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for r in report:
        print(f"| {r['backend']} | {r['persons']:,} | {r['connector']}/{r['stream']} | "
              f"{r['fetched']:,} | {r['new']:,} | {r['seconds']:.1f} | "
              f"{r['per_second']:,.0f} | {r['rss_mib']:.0f} |")
    (RESULTS / "ingest.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
