"""A closed-loop load generator: C clients on 127.0.0.1, each sending its next request
as soon as the last one answered, for a fixed time. Prints one JSON line of results."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from pathlib import Path

import aiohttp

QUERY = "query($nik: String!) { person(nik: $nik) { name sex birthDate } }"


def encode_requests(kind: str, niks: list[str]) -> list[tuple[str, bytes | None]]:
    """Encode every request up front, so the client spends the same little CPU per
    request whatever the route: on two cores it competes with the server it measures."""
    if kind == "graphql":
        return [
            ("", json.dumps({"query": QUERY, "variables": {"nik": nik}}).encode())
            for nik in niks
        ]
    return [(f"?nik={nik}", None) for nik in niks]


async def run(base: str, kind: str, niks: list[str], clients: int, seconds: float,
              warmup: float, key: str = "") -> dict:
    latencies: list[float] = []
    requests = encode_requests(kind, niks)
    graphql_headers = {
        "content-type": "application/json", "accept": "application/graphql-response+json",
        "authorization": f"Bearer {key}",
    }
    errors = 0
    rng = random.Random(1)
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        stop_at = time.perf_counter() + warmup + seconds
        measure_from = time.perf_counter() + warmup

        async def client() -> None:
            nonlocal errors
            while (now := time.perf_counter()) < stop_at:
                query_string, body = rng.choice(requests)
                if body is not None:
                    request = session.post(f"{base}/graphql", data=body, headers=graphql_headers)
                else:
                    request = session.get(f"{base}/bare/person{query_string}")
                async with request as response:
                    answer = await response.read()
                ok = response.status == 200 and b'"errors"' not in answer
                if now >= measure_from:
                    latencies.append(time.perf_counter() - now)
                    errors += not ok

        cpu_before = time.process_time()
        await asyncio.gather(*(client() for _ in range(clients)))
        client_cpu = time.process_time() - cpu_before
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {
        "kind": kind, "clients": clients, "requests": len(latencies), "errors": errors,
        "rps": len(latencies) / seconds, "p50_ms": pct(0.50), "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "client_cpu_us_per_request": client_cpu / max(1, len(latencies)) * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--kind", choices=["graphql", "bare"], required=True)
    parser.add_argument("--niks", type=Path, required=True)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--key", default="", help="API key for the GraphQL requests")
    parser.add_argument("--warmup", type=float, default=1.5)
    args = parser.parse_args()
    niks = args.niks.read_text().split()
    result = asyncio.run(run(args.base, args.kind, niks, args.clients, args.seconds,
                             args.warmup, args.key))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
