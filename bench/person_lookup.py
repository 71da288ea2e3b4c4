"""Benchmark: load N persons, then `person(nik)` through the real HTTP server next to a
bare Starlette route doing the same indexed look-up, on SQLite and PostgreSQL. The
GraphQL look-ups are authenticated (Bearer key), scope-checked and audited, as in
production; the bare route does none of that.

    .venv/bin/python -m bench.person_lookup --persons 10000 100000 1000000

Prints a table and writes bench/results/person_lookup.json. GraphQL and bare rounds
alternate in one run, so the ratio between them holds on a noisy machine. The client is
wrk when it is installed (`apt-get install wrk`), else bench/loadgen.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from statistics import mean

from sqlalchemy import text

from bench.common import CACHE, RESULTS, ROOT, fresh_database, prepare, wait_until_answers
from hub.db.engine import create_engine
from hub.db.loader import load_population
from hub.db.migrate import upgrade
from hub.jsontext import read_jsonl
from hub.simulators.population_files import is_current, write_population
from tests.pg_server import free_port

PERSONS_PER_HOUSEHOLD = 4.05  # what the generator produces on average


def population(persons: int) -> Path:
    households = max(1, round(persons / PERSONS_PER_HOUSEHOLD))
    out = CACHE / f"pop-{households}"
    if not is_current(out):
        started = time.perf_counter()
        write_population(out, "33.14", households, seed=2026)
        print(f"  generated {households:,} households in {time.perf_counter() - started:.1f}s")
    return out


async def load(url: str, pop: Path) -> tuple[float, int, int]:
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url)
    try:
        started = time.perf_counter()
        counts = await load_population(engine, pop)
        seconds = time.perf_counter() - started
        if engine.dialect.name == "postgresql":
            async with engine.connect() as connection:
                size = (await connection.execute(
                    text("SELECT pg_database_size(current_database())"))).scalar_one()
        else:
            database = Path(engine.url.database)
            size = sum(p.stat().st_size for p in database.parent.glob(database.name + "*"))
    finally:
        await engine.dispose()
    return seconds, int(size), counts["persons"]


def sample_niks(pop: Path, path: Path, count: int = 20_000) -> None:
    rng = random.Random(5)
    reservoir: list[str] = []
    for seen, person in enumerate(read_jsonl(pop / "persons.jsonl")):
        if len(reservoir) < count:
            reservoir.append(person["nik"])
        elif (slot := rng.randrange(seen + 1)) < count:
            reservoir[slot] = person["nik"]
    path.write_text("\n".join(reservoir))


async def bench_key(url: str) -> str:
    """A NATIONAL client's key: every GraphQL look-up is authenticated and audited, as
    in production."""
    from hub.access.clients import ClientStore
    from hub.access.roles import Role

    engine = create_engine(url)
    try:
        _, key = await ClientStore(engine).create(
            f"bench-{time.time_ns()}", Role.NATIONAL, legal_basis="benchmark",
            purpose="latency measurement", rate_per_minute=10**9)
    finally:
        await engine.dispose()
    return key


def start_server(url: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.bench_server", "--url", url, "--port", str(port)],
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    wait_until_answers(f"{base}/healthz", process, "the benchmark server")
    return process, base


WRK_SCRIPT = ROOT / "bench" / "person_lookup.lua"
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not match:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def drive_wrk(base: str, kind: str, niks: Path, clients: int, seconds: float,
              key: str) -> dict:
    """wrk (C, epoll) as the client: on two cores a Python client would take a third
    of one from the server it measures."""
    subprocess.run(  # warm-up, not measured
        ["wrk", "-t1", f"-c{clients}", "-d2s", "-s", str(WRK_SCRIPT), base],
        env={**os.environ, "KIND": kind, "NIKS": str(niks), "KEY": key}, capture_output=True,
        check=True,
    )
    output = subprocess.run(
        ["wrk", "-t1", f"-c{clients}", f"-d{seconds:.0f}s", "--latency", "-s",
         str(WRK_SCRIPT), base],
        env={**os.environ, "KIND": kind, "NIKS": str(niks), "KEY": key},
        capture_output=True, text=True, check=True,
    ).stdout
    percentiles = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)$", output, flags=re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)$", output, flags=re.M)
    return {
        "kind": kind,
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50_ms": _ms(percentiles["50"]), "p90_ms": _ms(percentiles["90"]),
        "p99_ms": _ms(percentiles["99"]),
        "errors": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else None,
    }


def drive(base: str, kind: str, niks: Path, clients: int, seconds: float, key: str) -> dict:
    if shutil.which("wrk"):
        return drive_wrk(base, kind, niks, clients, seconds, key)
    output = subprocess.run(
        [sys.executable, "-m", "bench.loadgen", "--base", base, "--kind", kind,
         "--niks", str(niks), "--clients", str(clients), "--seconds", str(seconds),
         "--key", key],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    return json.loads(output.stdout)


def measure(url: str, niks: Path, clients: int, seconds: float, rounds: int) -> dict:
    key = asyncio.run(bench_key(url))
    process, base = start_server(url)
    try:
        runs: dict[str, list[dict]] = {"graphql": [], "bare": []}
        for _ in range(rounds):
            for kind in ("graphql", "bare"):
                runs[kind].append(drive(base, kind, niks, clients, seconds, key))
    finally:
        process.terminate()
        process.wait(timeout=10)
    summary = {}
    for kind, results in runs.items():
        summary[kind] = {
            "rps": mean(r["rps"] for r in results),
            "p50_ms": mean(r["p50_ms"] for r in results),
            "p99_ms": max(r["p99_ms"] for r in results),
            "errors": sum(r["errors"] for r in results),
        }
    summary["ratio"] = summary["graphql"]["rps"] / summary["bare"]["rps"]
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    rows = []
    with ExitStack() as stack:
        server = prepare(stack, args.backends)
        for persons in args.persons:
            pop = population(persons)
            niks = CACHE / f"niks-{pop.name}.txt"
            sample_niks(pop, niks)
            for backend in args.backends:
                url = fresh_database(server, backend, f"bench_{persons}")
                load_s, size, loaded = asyncio.run(load(url, pop))
                print(f"{backend} {loaded:,} persons: loaded in {load_s:.1f}s, "
                      f"{size / 2**20:.0f} MiB; measuring...", flush=True)
                result = measure(url, niks, args.clients, args.seconds, args.rounds)
                rows.append({"backend": backend, "persons": loaded, "load_s": load_s,
                             "size_mib": size / 2**20, **result})
                print(_row(rows[-1]), flush=True)
    print("\n| backend | persons | load s | size MiB | GraphQL req/s | bare req/s | ratio "
          "| GraphQL p50 ms | GraphQL p99 ms | bare p99 ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(_row(row))
    machine = {"cpus": os.cpu_count(), "clients": args.clients, "seconds": args.seconds,
               "rounds": args.rounds, "client": "wrk" if shutil.which("wrk") else "python"}
    (RESULTS / "person_lookup.json").write_text(json.dumps({"machine": machine, "rows": rows},
                                                           indent=1))


def _row(r: dict) -> str:
    g, b = r["graphql"], r["bare"]
    return (f"| {r['backend']} | {r['persons']:,} | {r['load_s']:.1f} | {r['size_mib']:.0f} | "
            f"{g['rps']:.0f} | {b['rps']:.0f} | {r['ratio']:.2f} | {g['p50_ms']:.1f} | "
            f"{g['p99_ms']:.1f} | {b['p99_ms']:.1f} |")


if __name__ == "__main__":
    main()
