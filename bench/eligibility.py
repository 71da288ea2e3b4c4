"""Benchmark: `eligibilityBatch` of 10,000 NIKs on a district of N persons, end to end
through the real HTTP server (authenticated, scope-checked, audited) on PostgreSQL.

    .venv/bin/python -m bench.eligibility --persons 1000000 [--resolvers-too]

The batch mixes NIKs in the registry, unknown ones and malformed ones (9:0.5:0.5) and is
sent as a PARTNER's trusted document would be. Prints per-round seconds and writes
bench/results/eligibility.json. With --resolvers-too, a second server with the read planner off
(graphql-core completing every answer) is timed on the same batches, alternating.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path
from statistics import median

import aiohttp

from bench.common import RESULTS, fresh_database, prepare
from bench.person_lookup import load, population, start_server
from hub.jsontext import read_jsonl

QUERY = (Path(__file__).resolve().parents[1] / "config" / "documents"
         / "eligibility_batch.graphql").read_text()


def batch_of(pop: Path, size: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    niks = [p["nik"] for p in read_jsonl(pop / "persons.jsonl") if p["nik"]]
    chosen = rng.sample(niks, int(size * 0.9))
    unknown = [f"3314{rng.randrange(10**11, 10**12)}" for _ in range(size // 20)]
    malformed = [str(rng.randrange(10**9)) for _ in range(size - len(chosen) - len(unknown))]
    batch = chosen + unknown + malformed
    rng.shuffle(batch)
    return batch


async def partner_key(url: str) -> str:
    from hub.access.clients import ClientStore
    from hub.access.documents import DocumentStore
    from hub.access.roles import Role
    from hub.db.engine import create_engine

    engine = create_engine(url)
    try:
        await DocumentStore(engine).register(QUERY)
        _, key = await ClientStore(engine).create(
            f"bench-partner-{time.time_ns()}", Role.PARTNER, regions=["33"],
            legal_basis="benchmark", purpose="eligibility throughput", rate_per_minute=10**6)
    finally:
        await engine.dispose()
    return key


async def rounds(base: str, key: str, batches: list[list[str]], program: str
                 ) -> list[dict]:
    from hub.access.documents import document_hash

    document = f"sha256:{document_hash(QUERY)}"
    out = []
    async with aiohttp.ClientSession(headers={"authorization": f"Bearer {key}"}) as session:
        for batch in batches:
            started = time.perf_counter()
            async with session.post(f"{base}/graphql", json={
                    "documentId": document,
                    "variables": {"niks": batch, "program": program}}) as response:
                body = await response.json()
            seconds = time.perf_counter() - started
            items = body["data"]["eligibilityBatch"]
            statuses: dict[str, int] = {}
            for item in items:
                statuses[item["status"]] = statuses.get(item["status"], 0) + 1
            out.append({"seconds": seconds, "items": len(items), "statuses": statuses,
                        "bytes": len(json.dumps(body))})
            print(f"  {seconds:.3f} s  {statuses}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--program", default="PBI_JKN")
    parser.add_argument("--resolvers-too", action="store_true",
                        help="also time a server with the read planner off, alternating")
    args = parser.parse_args()
    with ExitStack() as stack:
        server = prepare(stack, ["postgresql"])
        pop = population(args.persons)
        url = fresh_database(server, "postgresql", f"bench_elig_{args.persons}")
        load_s, _, loaded = asyncio.run(load(url, pop))
        print(f"postgresql {loaded:,} persons loaded in {load_s:.0f}s", flush=True)
        key = asyncio.run(partner_key(url))
        batches = [batch_of(pop, args.batch, seed) for seed in range(args.rounds + 1)]
        paths = {"planner": run_server(url, planner=True)}
        if args.resolvers_too:
            paths["resolvers"] = run_server(url, planner=False)
        results: dict[str, list[dict]] = {path: [] for path in paths}
        try:
            for batch in batches:  # the paths alternate, batch by batch
                for path, (_, base) in paths.items():
                    print(f"{path}:", end="", flush=True)
                    results[path] += asyncio.run(rounds(base, key, [batch], args.program))
        finally:
            for process, _ in paths.values():
                process.terminate()
                process.wait(timeout=10)
    summary: dict = {"persons": loaded, "batch": args.batch, "program": args.program}
    for path, found in results.items():
        found = found[1:]  # the first batch warms each server up
        summary[path] = {"median_s": median(r["seconds"] for r in found),
                         "max_s": max(r["seconds"] for r in found), "rounds": found}
        print(f"\n{path}: eligibilityBatch of {args.batch:,} NIKs on {loaded:,} persons: "
              f"median {summary[path]['median_s']:.3f} s, worst "
              f"{summary[path]['max_s']:.3f} s")
    (RESULTS / "eligibility.json").write_text(json.dumps(summary, indent=1))


def run_server(url: str, *, planner: bool) -> tuple[subprocess.Popen, str]:
    """The hub's server; with `planner` off, every read goes through the resolvers
    (graphql-core completing each answer), as before the planner completed them."""
    previous = os.environ.get("HUB_SERVER__READ_PLANNER")
    os.environ["HUB_SERVER__READ_PLANNER"] = "true" if planner else "false"
    try:
        return start_server(url)
    finally:
        if previous is None:
            del os.environ["HUB_SERVER__READ_PLANNER"]
        else:
            os.environ["HUB_SERVER__READ_PLANNER"] = previous


if __name__ == "__main__":
    main()
