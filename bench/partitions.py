"""Benchmark (#22): the registry partitioned by province against the plain layout, on
one PostgreSQL, with the same rows.

Districts of several provinces (one regency each) are generated and loaded into both
layouts with the same province-placed ids, so only the layout differs. Then, in
alternating rounds on one connection each:

- a look-up by NIK as the API makes it (`WHERE nik = $1 ORDER BY id LIMIT 1`), and on
  the partitioned layout also with the NIK's province range added (the pruned form);
- a person with their household (the join the API's nested look-up makes);
- a page of 50 households of a village;

each as a prepared statement over random NIKs and villages, in microseconds per call,
and the shared buffers one look-up touches (EXPLAIN ANALYZE BUFFERS).

    .venv/bin/python -m bench.partitions --households 25000 --rounds 3

Writes bench/results/partitions.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import time
from contextlib import ExitStack
from pathlib import Path
from statistics import median
from typing import Any

from bench.common import CACHE, RESULTS, fresh_database, prepare
from hub.db.engine import create_engine
from hub.db.loader import load_population
from hub.db.migrate import upgrade
from hub.domain.provinces import id_range
from hub.jsontext import read_jsonl
from hub.simulators.population_files import is_current, write_population

# One regency in each of six provinces the region catalogue knows.
REGENCIES = ("33.14", "35.10", "73.03", "32.04", "52.72", "16.06")

BY_NIK = "SELECT id, nik, name FROM person WHERE nik = $1 ORDER BY id LIMIT 1"
BY_NIK_PRUNED = ("SELECT id, nik, name FROM person WHERE nik = $1 AND id >= $2 AND id < $3 "
                 "ORDER BY id LIMIT 1")
WITH_HOUSEHOLD = ("SELECT p.id, p.name, h.kk, h.desil FROM person p "
                  "LEFT JOIN household h ON h.id = p.household_id "
                  "WHERE p.nik = $1 ORDER BY p.id LIMIT 1")
# A batch of NIKs (eligibility checks, 1,000 per call here): as the hub asks it, and
# on the partitioned layout with each NIK looked up in its province's ids.
BATCH = "SELECT id, nik, region_code FROM person WHERE nik = ANY($1::text[])"
BATCH_PRUNED = ("SELECT p.id, p.nik, p.region_code FROM unnest($1::text[], $2::bigint[], "
                "$3::bigint[]) AS k(nik, low, high) JOIN LATERAL (SELECT id, nik, region_code "
                "FROM person WHERE nik = k.nik AND id >= k.low AND id < k.high) AS p ON true")
BATCH_SIZE = 1000
VILLAGE_PAGE = ("SELECT id, kk, desil FROM household WHERE village_code = $1 "
                "ORDER BY village_code, id LIMIT 50")


def populations(households: int) -> list[Path]:
    out = []
    for regency in REGENCIES:
        folder = CACHE / f"pop-{regency}-{households}"
        if not is_current(folder):
            started = time.perf_counter()
            write_population(folder, regency, households, seed=2026)
            print(f"  generated {regency}: {households:,} households "
                  f"in {time.perf_counter() - started:.1f}s")
        out.append(folder)
    return out


async def load(url: str, layout: str, pops: list[Path]) -> dict[str, float]:
    await asyncio.to_thread(upgrade, url, partitions=layout)
    engine = create_engine(url)
    try:
        started = time.perf_counter()
        persons = 0
        for pop in pops:
            counts = await load_population(engine, pop, replace=False, by_province=True)
            persons += counts["persons"]
        seconds = time.perf_counter() - started
        async with engine.connect() as conn:
            size = (await conn.exec_driver_sql(
                "SELECT pg_database_size(current_database())")).scalar_one()
    finally:
        await engine.dispose()
    return {"load_s": round(seconds, 1), "persons": persons, "bytes": int(size)}


def samples(pops: list[Path], count: int) -> tuple[list[str], list[str]]:
    rng = random.Random(7)
    niks: list[str] = []
    villages: set[str] = set()
    for pop in pops:
        for household in read_jsonl(pop / "households.jsonl"):
            villages.add(household["village_code"])
        niks += [p["nik"] for p in read_jsonl(pop / "persons.jsonl") if p["nik"]]
    return rng.sample(niks, count), sorted(villages)


async def timed(connection: Any, statement: str, arguments: list[tuple[Any, ...]]) -> float:
    """Microseconds per call of a prepared statement, over `arguments`."""
    prepared = await connection.prepare(statement)
    started = time.perf_counter()
    for values in arguments:
        await prepared.fetch(*values)
    return (time.perf_counter() - started) / len(arguments) * 1e6


async def buffers(connection: Any, statement: str, values: tuple[Any, ...]) -> int:
    """Shared buffers (hit or read) one execution touches."""
    lines = "\n".join(r["QUERY PLAN"] for r in await connection.fetch(
        f"EXPLAIN (ANALYZE, BUFFERS) {statement}", *values))
    hits = re.search(r"Buffers: shared hit=(\d+)(?: read=(\d+))?", lines)
    return int(hits.group(1)) + int(hits.group(2) or 0) if hits else 0


async def measure(urls: dict[str, str], niks: list[str], villages: list[str],
                  rounds: int) -> dict[str, dict[str, list[float]]]:
    import asyncpg

    connections = {layout: await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
                   for layout, url in urls.items()}
    pruned = [(nik, *id_range(nik[:2])) for nik in niks]
    plain = [(nik,) for nik in niks]
    pages = [(random.Random(i).choice(villages),) for i in range(len(niks) // 4)]
    groups = [niks[i:i + BATCH_SIZE] for i in range(0, len(niks), BATCH_SIZE)]
    batches = [(group,) for group in groups]
    batches_pruned = [(group, [id_range(n[:2])[0] for n in group],
                       [id_range(n[:2])[1] for n in group]) for group in groups]
    results: dict[str, dict[str, list[float]]] = {layout: {} for layout in urls}
    try:
        for round_ in range(rounds):
            order = list(urls) if round_ % 2 == 0 else list(reversed(urls))
            for layout in order:
                connection = connections[layout]
                cases = {"nik": (BY_NIK, plain), "nik_with_household": (WITH_HOUSEHOLD, plain),
                         "village_page": (VILLAGE_PAGE, pages),
                         f"batch_of_{BATCH_SIZE}": (BATCH, batches)}
                if layout == "province":
                    cases["nik_pruned"] = (BY_NIK_PRUNED, pruned)
                    cases[f"batch_of_{BATCH_SIZE}_pruned"] = (BATCH_PRUNED, batches_pruned)
                for case, (statement, arguments) in cases.items():
                    results[layout].setdefault(case, []).append(
                        round(await timed(connection, statement, arguments), 1))
        for layout, connection in connections.items():
            results[layout]["buffers_nik"] = [await buffers(connection, BY_NIK, plain[0])]
            if layout == "province":
                results[layout]["buffers_nik_pruned"] = [
                    await buffers(connection, BY_NIK_PRUNED, pruned[0])]
    finally:
        for connection in connections.values():
            await connection.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--households", type=int, default=25_000,
                        help="households per regency (six regencies)")
    parser.add_argument("--lookups", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    pops = populations(args.households)
    niks, villages = samples(pops, args.lookups)
    report: dict[str, Any] = {"households_per_regency": args.households,
                              "regencies": list(REGENCIES)}
    with ExitStack() as stack:
        server = prepare(stack, ["postgresql"])
        urls = {layout: fresh_database(server, "postgresql", f"partitions_{layout}")
                for layout in ("none", "province")}
        for layout, url in urls.items():
            report[layout] = asyncio.run(load(url, layout, pops))
            print(f"{layout}: {report[layout]}")
        timings = asyncio.run(measure(urls, niks, villages, args.rounds))
    for layout, cases in timings.items():
        report[layout]["microseconds"] = cases
        for case, values in cases.items():
            print(f"{layout:9} {case:20} {values}  median {median(values)}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "partitions.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
