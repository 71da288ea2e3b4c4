"""Benchmark: the read path side by side with a peer. The hub with its read planner, the
hub with resolvers only, and PostGraphile v4 (a bench-only npm tool in bench/peers,
never a dependency of the hub) serve the same PostgreSQL database; wrk drives each
with 32 connections, in rounds whose order alternates.

    apt-get install wrk && npm ci --prefix bench/peers
    .venv/bin/python -m bench.read_path --persons 100000 --seconds 15 --rounds 3

The hub runs as in production: every request authenticated (a NATIONAL client's key),
scope-checked and audited. PostGraphile does neither. Before the load, every server
answers a sample of the same requests and the answers are compared; a server that
errs or disagrees stops the bench. Prints a table and writes
bench/results/read_path.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import time
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any

from sqlalchemy import text

from bench.common import CACHE, RESULTS, ROOT, fresh_database, prepare, wait_until_answers
from bench.person_lookup import _ms, bench_key, load, population, sample_niks
from hub.db.engine import create_engine
from tests.pg_server import free_port

PEERS = ROOT / "bench" / "peers"
WRK_SCRIPT = ROOT / "bench" / "read_path.lua"


@dataclass(frozen=True)
class Case:
    """One read, as the hub and as PostGraphile spell it."""

    name: str
    hub: str
    peer: str | None
    variables: str  # which sample each request draws: nik, village, regency


CASES = [
    Case("person + household",
         "query($nik: String!) { person(nik: $nik) { name birthDate "
         "household { kk desil } } }",
         "query($nik: String!) { allPeople(condition: {nik: $nik}, first: 1, "
         "orderBy: ID_ASC) { nodes { name birthDate householdByHouseholdId { kk desil } } } }",
         "nik"),
    Case("person",
         "query($nik: String!) { person(nik: $nik) { name birthDate } }",
         "query($nik: String!) { allPeople(condition: {nik: $nik}, first: 1, "
         "orderBy: ID_ASC) { nodes { name birthDate } } }",
         "nik"),
    Case("50 households + members",
         "query($region: String!) { households(region: $region, first: 50) { edges { "
         "node { kk members { nik name } } } } }",
         "query($region: String!) { allHouseholds(condition: {villageCode: $region}, "
         "first: 50, orderBy: [VILLAGE_CODE_ASC, ID_ASC]) { nodes { kk "
         "peopleByHouseholdId(orderBy: ID_ASC) { nodes { nik name } } } } }",
         "village"),
    Case("region statistics",
         "query($region: String!) { region(code: $region) { statistics { households "
         "persons perDesil { desil households persons } } } }",
         None,  # PostGraphile has no aggregates without plugins: the hub alone
         "regency"),
]


def _post(base: str, body: bytes, key: str | None) -> dict[str, Any]:
    headers = {"content-type": "application/json", "accept": "application/json"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    request = urllib.request.Request(f"{base}/graphql", data=body, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _rows(case: Case, server: str, data: dict[str, Any]) -> Any:
    """The answer's rows in one shape, to compare the hub's with the peer's."""
    if server == "postgraphile":
        if case.variables == "nik":
            nodes = data["allPeople"]["nodes"]
            if not nodes:
                return None
            person = dict(nodes[0])
            household = person.pop("householdByHouseholdId", None)
            return {**person, **({"household": household} if household else {})}
        return [{"kk": n["kk"], "members": n["peopleByHouseholdId"]["nodes"]}
                for n in data["allHouseholds"]["nodes"]]
    if case.variables == "nik":
        return data["person"]
    if case.variables == "village":
        return [edge["node"] for edge in data["households"]["edges"]]
    return data["region"]


class Servers:
    def __init__(self, stack: ExitStack, url: str, workers: int) -> None:
        self.stack, self.url, self.workers = stack, url, workers
        self.bases: dict[str, str] = {}

    def hub(self, name: str, planner: bool, workers: int = 1) -> None:
        port = free_port()
        env = {**os.environ, "HUB_SERVER__READ_PLANNER": str(planner).lower()}
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.bench_server", "--url", self.url, "--port",
             str(port), "--workers", str(workers)], cwd=ROOT, env=env)
        self._started(name, process, f"http://127.0.0.1:{port}", "/healthz")

    def postgraphile(self) -> None:
        binary = PEERS / "node_modules" / ".bin" / "postgraphile"
        if not binary.exists():
            raise SystemExit(f"PostGraphile is not installed: npm ci --prefix {PEERS}")
        port = free_port()
        connection = self.url.replace("postgresql+asyncpg://", "postgres://")
        process = subprocess.Popen(
            [str(binary), "-c", connection, "--host", "127.0.0.1", "--port", str(port),
             "--schema", "public", "--disable-query-log", "--disable-graphiql"],
            cwd=PEERS, stdout=subprocess.DEVNULL)
        self._started("postgraphile", process, f"http://127.0.0.1:{port}", "/graphql",
                      probe=b'{"query":"{__typename}"}')

    def _started(self, name: str, process: subprocess.Popen, base: str, path: str,
                 probe: bytes | None = None) -> None:
        self.stack.callback(_stop, process)
        if probe is None:
            wait_until_answers(base + path, process, name)
        else:
            deadline = time.monotonic() + 60
            while True:
                try:
                    _post(base, probe, None)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
        self.bases[name] = base


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


async def samples(url: str, pop: Path) -> dict[str, list[str]]:
    niks_file = CACHE / f"niks-{pop.name}.txt"
    sample_niks(pop, niks_file, 5000)
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            villages = (await connection.execute(text(
                "SELECT village_code FROM household GROUP BY village_code "
                "HAVING count(*) >= 50 ORDER BY village_code"))).scalars().all()
            regencies = (await connection.execute(text(
                "SELECT DISTINCT substr(village_code, 1, 5) FROM household"))).scalars().all()
    finally:
        await engine.dispose()
    return {"nik": niks_file.read_text().split(), "village": list(villages),
            "regency": list(regencies)}


def bodies(case: Case, server: str, values: list[str], count: int = 2000) -> Path:
    rng = random.Random(11)
    query = case.peer if server == "postgraphile" else case.hub
    name = "nik" if case.variables == "nik" else "region"
    slug = re.sub(r"\W+", "-", f"{case.name}-{server}")
    path = CACHE / f"read-{slug}.jsonl"
    lines = [json.dumps({"query": query, "variables": {name: rng.choice(values)}})
             for _ in range(count)]
    path.write_text("\n".join(lines))
    return path


def check(case: Case, servers: dict[str, str], files: dict[str, Path], key: str) -> None:
    """The same requests to every server: all answer without errors, and alike."""
    firsts = {server: files[server].read_text().splitlines()[:25] for server in files}
    for i in range(25):
        answers = {}
        for server, base in servers.items():
            body = _post(base, firsts[server][i].encode(),
                         None if server == "postgraphile" else key)
            if "errors" in body:
                raise SystemExit(f"{server} answered {case.name} with {body['errors']}")
            answers[server] = _rows(case, server, body["data"])
        distinct = {json.dumps(a, sort_keys=True) for a in answers.values()}
        if len(distinct) != 1:
            raise SystemExit(f"the servers disagree on {case.name}: {answers}")


def drive(base: str, body_file: Path, clients: int, seconds: float, key: str | None
          ) -> dict[str, Any]:
    env = {**os.environ, "BODIES": str(body_file), "KEY": key or ""}
    command = ["wrk", "-t1", f"-c{clients}", "-s", str(WRK_SCRIPT), base]
    subprocess.run([*command[:3], "-d2s", *command[3:]], env=env, capture_output=True,
                   check=True)  # warm-up, not measured
    output = subprocess.run([*command[:3], f"-d{seconds:.0f}s", "--latency", *command[3:]],
                            env=env, capture_output=True, text=True, check=True).stdout
    percentiles = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)$", output, flags=re.M))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    timeouts = re.search(r"Socket errors:.*timeout (\d+)", output)
    # wrk gives up on a request after 2 s and prints no percentiles when none finished.
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
            "p50_ms": _ms(percentiles["50"]) if "50" in percentiles else float("nan"),
            "p99_ms": _ms(percentiles["99"]) if "99" in percentiles else float("nan"),
            "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
            "timeouts": int(timeouts.group(1)) if timeouts else 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cases", nargs="*", help="case names to run (default: all)")
    parser.add_argument("--two-workers", action="store_true",
                        help="also the hub (planner on) with two uvicorn workers")
    args = parser.parse_args()
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    with ExitStack() as stack:
        server = prepare(stack, ["postgresql"])
        pop = population(args.persons)
        url = fresh_database(server, "postgresql", "read_path")
        load_s, _size, loaded = asyncio.run(load(url, pop))
        print(f"{loaded:,} persons loaded in {load_s:.0f}s", flush=True)
        values = asyncio.run(samples(url, pop))
        key = asyncio.run(bench_key(url))
        servers = Servers(stack, url, 1)
        servers.hub("hub", planner=True)
        servers.hub("hub (resolvers)", planner=False)
        if args.two_workers:
            servers.hub("hub, 2 workers", planner=True, workers=2)
        servers.postgraphile()
        for case in CASES:
            if args.cases and case.name not in args.cases:
                continue
            names = [s for s in servers.bases if s != "postgraphile" or case.peer]
            files = {s: bodies(case, s, values[case.variables]) for s in names}
            check(case, {s: servers.bases[s] for s in names}, files, key)
            runs = results.setdefault(case.name, {s: [] for s in names})
            for round_ in range(args.rounds):
                order = names[round_ % len(names):] + names[:round_ % len(names)]
                for s in order:
                    result = drive(servers.bases[s], files[s], args.clients, args.seconds,
                                   None if s == "postgraphile" else key)
                    runs[s].append(result)
                    print(f"{case.name:24s} {s:18s} {result['rps']:8.0f} req/s  "
                          f"p50 {result['p50_ms']:6.1f}  p99 {result['p99_ms']:6.1f} ms  "
                          f"non-2xx {result['non_2xx']}  timeouts {result['timeouts']}", flush=True)
    print(table(results))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "read_path.json").write_text(json.dumps(
        {"persons": args.persons, "clients": args.clients, "seconds": args.seconds,
         "rounds": args.rounds, "cpus": os.cpu_count(), "results": results}, indent=1))


def table(results: dict[str, dict[str, list[dict[str, Any]]]]) -> str:
    lines = ["| query | server | req/s (median, min–max) | p50 ms | p99 ms (worst) "
             "| ÷ PostGraphile |", "| --- | --- | ---: | ---: | ---: | ---: |"]
    for case, runs in results.items():
        peer = median(r["rps"] for r in runs["postgraphile"]) if "postgraphile" in runs \
            else None
        for server, rounds in runs.items():
            rps = [r["rps"] for r in rounds]
            ratio = f"{median(rps) / peer:.2f}" if peer else "–"
            lines.append(
                f"| {case} | {server} | {median(rps):,.0f} ({min(rps):,.0f}–{max(rps):,.0f})"
                f" | {median(r['p50_ms'] for r in rounds):.1f} | "
                f"{max(r['p99_ms'] for r in rounds):.1f} | {ratio} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
