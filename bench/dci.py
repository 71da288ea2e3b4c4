"""Benchmark: the DCI social registry next to GraphQL on PostgreSQL.

    .venv/bin/python -m bench.dci --persons 1000000

1. A person by NIK: DCI `registry/sync/search` (idtype-value, response Member) and
   GraphQL `person(nik)`, through the same server, 16 concurrent clients for 10 s each,
   alternating; requests per second and latency percentiles. The client is wrk when it
   is installed (`apt-get install wrk`, bench/person_lookup.lua), else aiohttp in this
   process, which then takes part of the two cores from the server it measures (more
   for DCI, whose envelope it builds and whose signed answer it reads).
2. A predicate search returning page 1 (100 Members) of a result of about 100k rows
   (`age ge N`, N chosen so), timed over five runs.
Writes bench/results/dci.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, date, datetime
from pathlib import Path
from statistics import median

import aiohttp
from sqlalchemy import func, select

from bench.common import RESULTS, fresh_database, prepare
from bench.person_lookup import bench_key, drive_wrk, load, population, start_server
from hub.db.engine import create_engine
from hub.db.models import Person

GRAPHQL = "query($nik: String!) { person(nik: $nik) { name sex birthDate } }"


def envelope(query_type: str, query, entity: str = "Member", size: int = 10) -> dict:
    now = datetime.now(UTC).isoformat()
    return {"header": {"version": "1.0.0", "message_id": uuid.uuid4().hex, "message_ts": now,
                       "action": "search", "sender_id": "bench", "total_count": 1},
            "message": {"transaction_id": "bench", "search_request": [{
                "reference_id": "r", "timestamp": now,
                "search_criteria": {"query_type": query_type, "query": query,
                                    "response_entity": entity,
                                    "pagination": {"page_size": size, "page_number": 1}}}]}}


async def drive(base: str, key: str, kind: str, niks: list[str], seconds: float,
                clients: int = 16) -> dict:
    latencies: list[float] = []
    rng = random.Random(3)
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    async with aiohttp.ClientSession(headers=headers) as session:
        stop = time.perf_counter() + seconds

        async def one() -> None:
            while time.perf_counter() < stop:
                nik = rng.choice(niks)
                if kind == "dci":
                    url, body = f"{base}/dci/registry/sync/search", envelope(
                        "idtype-value", {"type": "NIK", "value": nik})
                else:
                    url, body = f"{base}/graphql", {"query": GRAPHQL, "variables": {"nik": nik}}
                started = time.perf_counter()
                async with session.post(url, json=body) as response:
                    await response.read()
                    assert response.status == 200, await response.text()
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(one() for _ in range(clients)))
    latencies.sort()
    return {"kind": kind, "rps": round(len(latencies) / seconds),
            "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
            "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1)}


async def predicate_runs(base: str, key: str, age: int) -> dict:
    query = [{"seq_num": 1, "expression1": {"attribute_name": "age", "operator": "ge",
                                            "attribute_value": age}}]
    times, total = [], 0
    async with aiohttp.ClientSession(headers={"authorization": f"Bearer {key}"}) as session:
        for _ in range(6):
            started = time.perf_counter()
            async with session.post(f"{base}/dci/registry/sync/search",
                                    json=envelope("predicate", query, size=100)) as response:
                body = await response.json()
            times.append(time.perf_counter() - started)
            answer = body["message"]["search_response"][0]
            total = answer["pagination"]["total_count"]
    return {"age_ge": age, "total_count": total, "page_size": 100,
            "median_s": round(median(times[1:]), 3), "max_s": round(max(times[1:]), 3)}


async def age_for(url: str, target: int) -> tuple[list[str], int]:
    """Some NIKs to look up, and the age whose `age ge` result is about `target` rows."""
    engine = create_engine(url)
    async with engine.connect() as conn:
        niks = list((await conn.execute(select(Person.nik).where(Person.nik.is_not(None))
                                        .limit(20000))).scalars())
        births = list((await conn.execute(select(Person.birth_date).where(
            Person.birth_date.is_not(None)).order_by(Person.birth_date).limit(target)
        )).scalars())
        total = (await conn.execute(select(func.count()).select_from(Person))).scalar_one()
    await engine.dispose()
    oldest_of_target = births[-1]
    today = date.today()
    age = today.year - oldest_of_target.year
    print(f"{total:,} persons; age ge {age} gives about {target:,}", flush=True)
    return niks, age


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with ExitStack() as stack:
        server = prepare(stack, ["postgresql"])
        pop = population(args.persons)
        url = fresh_database(server, "postgresql", f"bench_dci_{args.persons}")
        asyncio.run(load(url, pop))
        niks, age = asyncio.run(age_for(url, 100_000))
        key = asyncio.run(bench_key(url))
        process, base = start_server(url)
        try:
            lookups = []
            client = "wrk" if shutil.which("wrk") else "aiohttp"
            with tempfile.NamedTemporaryFile("w", suffix=".txt") as nik_file:
                nik_file.write("\n".join(niks))
                nik_file.flush()
                for _ in range(args.rounds):
                    for kind in ("dci", "graphql"):
                        if client == "wrk":
                            lookup = drive_wrk(base, kind, Path(nik_file.name), 16,
                                               args.seconds, key)
                            if lookup["errors"] or lookup["socket_errors"]:
                                raise SystemExit(f"{kind}: answers other than 200: {lookup}")
                        else:
                            lookup = asyncio.run(drive(base, key, kind, niks, args.seconds))
                        lookups.append({**lookup, "client": client})
                        print(lookups[-1], flush=True)
            predicate = asyncio.run(predicate_runs(base, key, age))
            print(predicate, flush=True)
        finally:
            process.terminate()
            process.wait(timeout=10)
    result = {"persons": args.persons, "lookups": lookups, "predicate": predicate}
    (RESULTS / "dci.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
