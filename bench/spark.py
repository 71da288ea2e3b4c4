"""Benchmark: matching on Spark against DuckDB, on the same district and machine.

    .venv/bin/python -m bench.spark --persons 100000 1000000

For each size, one generated district is staged into two fresh PostgreSQL databases
and reconciled in full, once with `[matching] backend = "duckdb"` and once with
`"spark"` (Spark local mode, `[matching.spark] master`, default local[2]). Reported:
- each run's seconds, with the phases the reconciliation times itself (the scoring
  phase is `match_predict_seconds`), the Python process's peak RSS and Spark's JVM's;
- whether the two registries hold the same persons (records grouped alike), and how
  many records are grouped otherwise;
- scoring alone: the DuckDB-run's match keys and model, blocked and scored by each
  backend: seconds, pairs, and whether the pairs and probabilities are the same;
- with `--memory-heap 1g`, memory per executor against record count: the same match
  keys, a third of the kecamatan and then all of them, each scored on Spark in a fresh
  process whose JVM has that heap: seconds, pairs, the JVM's peak RSS (VmHWM) and its
  heap pools' peak use. In local mode the driver's JVM is the executor.
Writes bench/results/spark.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pickle
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bench.common import RESULTS, ROOT, fresh_database, prepare
from bench.reconcile import keys_and_model, population, stage
from hub.db.engine import create_engine
from hub.db.migrate import upgrade
from hub.db.models import SourceRecord


def _descendants_rss_mib(root: int) -> float:
    """Resident memory of `root`'s descendant processes (Spark's JVM and its Python
    workers), from /proc."""
    children: dict[int, list[int]] = defaultdict(list)
    rss: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            children[int(fields[1])].append(int(entry.name))
            rss[int(entry.name)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        except (OSError, IndexError, ValueError):
            continue
    total, stack = 0.0, list(children[root])
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0.0)
        stack.extend(children[pid])
    return total


def child(url: str, backend: str) -> dict[str, Any]:
    """A full reconciliation in a fresh interpreter, with the backend by environment
    (as a deployment sets it); polls its descendants' memory meanwhile."""
    env = {**os.environ, "HUB_MATCHING__BACKEND": backend}
    process = subprocess.Popen([sys.executable, "-m", "bench.reconcile", "--child", url, "full"],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    peak = [0.0]

    def poll() -> None:
        while process.poll() is None:
            peak[0] = max(peak[0], _descendants_rss_mib(process.pid))
            time.sleep(0.5)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    out, err = process.communicate()
    watcher.join()
    if process.returncode:
        raise RuntimeError(err[-3000:])
    result = json.loads(out.strip().splitlines()[-1])
    result["descendants_peak_rss_mib"] = round(peak[0])
    return result


async def _registry(url: str) -> set[frozenset[tuple[str, str]]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(select(SourceRecord.source, SourceRecord.source_key,
                                             SourceRecord.person_id)
                                      .where(SourceRecord.person_id.is_not(None)))
            persons: dict[int, set[tuple[str, str]]] = defaultdict(set)
            for source, key, person in rows:
                persons[person].add((source, key))
    finally:
        await engine.dispose()
    return {frozenset(records) for records in persons.values()}


async def _linkage_rows(url: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from hub.sync.resolution import features_from_key, linkage_row

    keys, model = await keys_and_model(url)
    names = Counter(k["name_norm"] for k in keys)
    return ([linkage_row(k["record_id"], features_from_key(k), names[k["name_norm"]] / len(keys))
             for k in keys], model)


def scoring_alone(rows: list[dict[str, Any]], model: dict[str, Any]) -> dict[str, Any]:
    from hub.config import load_settings
    from hub.sync.resolution import LINKAGE_COLUMNS
    from hub.sync.scoring import LinkageEngine
    from hub.sync.spark import SparkScorer, session

    options = load_settings().matching.spark
    started = time.perf_counter()
    session(options)  # the JVM's start is the session's, not the scoring's
    start_seconds = time.perf_counter() - started
    out: dict[str, Any] = {"records": len(rows), "spark_session_start_seconds":
                           round(start_seconds, 1)}
    found: dict[str, dict[tuple[int, int], float]] = {}
    for name, scorer in (("duckdb", None), ("spark", SparkScorer(options))):
        engine = LinkageEngine(LINKAGE_COLUMNS, model, scorer=scorer)
        try:
            table = engine.load(rows)
            started = time.perf_counter()
            edges = engine.predict_edges(table, threshold=0.5)
            out[f"{name}_seconds"] = round(time.perf_counter() - started, 1)
        finally:
            engine.close()
        found[name] = {(a, b): p for a, b, p in edges}
        out[f"{name}_pairs"] = len(edges)
    duck, spark = found["duckdb"], found["spark"]
    common = set(duck) & set(spark)
    out["same_pairs"] = set(duck) == set(spark)
    out["pairs_only_one_side"] = len(set(duck) ^ set(spark))
    out["max_probability_difference"] = max((abs(duck[p] - spark[p]) for p in common),
                                            default=0.0)
    return out


def memory_per_executor(rows: list[dict[str, Any]], model: dict[str, Any], heap: str
                        ) -> list[dict[str, Any]]:
    """A third of the kecamatan, then all, each scored in a fresh process (a JVM's heap
    is fixed when it starts) with `heap`: memory flat in records means the larger run
    fits the same heap and its peak RSS barely moves."""
    with tempfile.NamedTemporaryFile(suffix=".pickle") as kept:
        pickle.dump((rows, model), kept)
        kept.flush()
        out = []
        for share in (1 / 3, 1.0):
            done = subprocess.run(
                [sys.executable, "-m", "bench.spark", "--memory-child", kept.name,
                 str(share), heap], cwd=ROOT, capture_output=True, text=True, check=True)
            out.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"  memory, {heap} heap: {out[-1]}", flush=True)
    return out


def _memory_child(path: str, share: float, heap: str) -> None:
    from hub.config import load_settings
    from hub.sync.resolution import LINKAGE_COLUMNS
    from hub.sync.scoring import LinkageEngine
    from hub.sync.spark import SparkScorer, session

    with open(path, "rb") as handle:
        rows, model = pickle.load(handle)  # the file this bench wrote
    districts = sorted({row["district_code"] for row in rows})
    kept = set(districts[:max(1, round(len(districts) * share))])
    rows = [row for row in rows if row["district_code"] in kept]
    options = load_settings().matching.spark.model_copy(update={"driver_memory": heap})
    spark = session(options)
    engine = LinkageEngine(LINKAGE_COLUMNS, model, scorer=SparkScorer(options))
    try:
        table = engine.load(rows)
        started = time.perf_counter()
        edges = engine.predict_edges(table, threshold=0.5)
        seconds = time.perf_counter() - started
        beans = spark.sparkContext._jvm.java.lang.management.ManagementFactory
        pools = {str(pool.getName()): round(pool.getPeakUsage().getUsed() / 2**20)
                 for pool in beans.getMemoryPoolMXBeans()
                 if str(pool.getType()) == "Heap memory"}
        jvm_pid = int(str(beans.getRuntimeMXBean().getName()).split("@")[0])
        status = Path(f"/proc/{jvm_pid}/status").read_text()
        peak_rss = int(next(line for line in status.splitlines()
                            if line.startswith("VmHWM")).split()[1]) / 1024
    finally:
        engine.close()
    print(json.dumps({"share_of_kecamatan": round(share, 3), "kecamatan": len(kept),
                      "records": len(rows), "heap": heap, "seconds": round(seconds, 1),
                      "pairs": len(edges), "jvm_peak_rss_mib": round(peak_rss),
                      "heap_pool_peak_mib": pools}), flush=True)


async def run_one(server: Any, persons: int, noise: str,
                  memory_heap: str | None = None) -> dict[str, Any]:
    pop = population(persons, noise)
    runs: dict[str, Any] = {}
    urls: dict[str, str] = {}
    for backend in ("duckdb", "spark"):
        url = urls[backend] = fresh_database(server, "postgresql", f"spark_{backend}_{persons}")
        await asyncio.to_thread(upgrade, url)
        staged = await stage(url, pop)
        runs[backend] = child(url, backend)
        print(f"  {backend}: {staged:,} records reconciled in {runs[backend]['seconds']:.1f}s "
              f"(scoring {runs[backend]['counts'].get('seconds_match_predict')}s), "
              f"peak {runs[backend]['peak_rss_mib']:.0f} MiB + "
              f"{runs[backend]['descendants_peak_rss_mib']} MiB in child processes")
    duck, spark = await _registry(urls["duckdb"]), await _registry(urls["spark"])
    records_apart = sum(len(group) for group in duck ^ spark) // 2
    print(f"  same persons: {duck == spark} ({len(duck):,} vs {len(spark):,}; "
          f"{records_apart} records grouped otherwise)")
    rows, model = await _linkage_rows(urls["duckdb"])
    alone = await asyncio.to_thread(scoring_alone, rows, model)
    print(f"  scoring alone: {alone}")
    memory = (await asyncio.to_thread(memory_per_executor, rows, model, memory_heap)
              if memory_heap else None)
    return {"persons": persons, "noise": noise, "runs": runs, "same_persons": duck == spark,
            "memory_per_executor": memory,
            "persons_made": {"duckdb": len(duck), "spark": len(spark)},
            "records_grouped_otherwise": records_apart, "scoring_alone": alone,
            "spark_over_duckdb": round(runs["spark"]["seconds"] / runs["duckdb"]["seconds"], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--persons", type=int, nargs="+", default=[100_000])
    parser.add_argument("--noise", default="default")
    parser.add_argument("--memory-heap", help="also score a third and all of the match "
                        "keys on Spark with this JVM heap (e.g. 1g), each in a fresh process")
    parser.add_argument("--memory-child", nargs=3, metavar=("ROWS", "SHARE", "HEAP"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        path, share, heap = args.memory_child
        _memory_child(path, float(share), heap)
        return
    results = []
    with ExitStack() as stack:
        server = prepare(stack, ["postgresql"])
        for persons in args.persons:
            print(f"{persons:,} persons, {args.noise} noise")
            results.append(asyncio.run(run_one(server, persons, args.noise,
                                               args.memory_heap)))
            out = RESULTS / "spark.json"
            out.write_text(json.dumps(results, indent=1, default=str))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
