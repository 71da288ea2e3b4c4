"""Fault bench: reconciliation killed at points through its run, then run again.

    .venv/bin/python -m bench.faults --households 20000

A district is generated and staged once into a template database on a throwaway
PostgreSQL (production durability). A clean full reconciliation of a copy sets the
reference: its seconds and a snapshot of what it wrote (persons, linked records,
open findings by kind, review tasks). Then, for each kill point (a share of the clean
run's duration), a fresh copy is reconciled in a child process that is SIGKILLed at
that moment, with autovacuum off on the tables a run writes (the worst case the
incident met: the killed run's dead rows stay). The next run's seconds are compared
with the clean run (target: at most 1.5x) and its snapshot with the clean snapshot:
records lost (linked in the clean run, not after recovery), persons duplicated, and
findings that differ. Writes bench/results/faults.json.

The other faults of the matrix (an agency killed mid-stream, 5xx, 429, truncated JSON,
dropped connections, a leader killed, a webhook receiver down, the database away) are
exercised by the test suite against the simulators; their tests are named in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from typing import Any

import asyncpg
from sqlalchemy import text

from bench.common import RESULTS, ROOT, fresh_database, prepare
from bench.reconcile import child, population, stage
from hub.db.engine import create_engine
from hub.db.migrate import upgrade

KILL_POINTS = (0.1, 0.3, 0.5, 0.7, 0.85, 0.95)
WRITTEN = ("person", "household", "source_record", "match_key", "finding", "review_task",
           "enrollment")


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _copy(url: str, template: str, name: str) -> str:
    """A new database that is a copy of `template` (PostgreSQL's file-level copy: a
    staged district in seconds, without staging it again)."""
    conn = await asyncpg.connect(_plain(url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await conn.close()
    return url.rsplit("/", 1)[0] + "/" + name


async def snapshot(url: str) -> dict[str, Any]:
    """What a reconciliation leaves, in numbers two runs can be compared by."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            one = (await conn.execute(text(
                "SELECT (SELECT count(*) FROM person), (SELECT count(*) FROM household), "
                "(SELECT count(*) FROM source_record WHERE person_id IS NOT NULL), "
                "(SELECT count(*) FROM source_record WHERE person_id IS NULL), "
                "(SELECT count(*) FROM review_task WHERE status = 'OPEN'), "
                "(SELECT count(*) FROM sync_run WHERE status = 'RUNNING')"))).one()
            findings = dict((await conn.execute(text(
                "SELECT kind, count(*) FROM finding WHERE status = 'OPEN' GROUP BY kind"
            ))).all())
            linked = {(r[0], r[1]) for r in (await conn.execute(text(
                "SELECT source, source_key FROM source_record WHERE person_id IS NOT NULL"
            ))).all()}
    finally:
        await engine.dispose()
    return {"persons": one[0], "households": one[1], "linked_records": one[2],
            "unlinked_records": one[3], "open_review_tasks": one[4],
            "runs_left_running": one[5], "open_findings": findings, "_linked": linked}


def _compare(clean: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    kinds = set(clean["open_findings"]) | set(after["open_findings"])
    return {
        "records_lost": len(clean["_linked"] - after["_linked"]),
        "persons_extra": after["persons"] - clean["persons"],
        "findings_differ": sum(abs(clean["open_findings"].get(k, 0)
                                   - after["open_findings"].get(k, 0)) for k in kinds),
        "runs_left_running": after["runs_left_running"],
    }


def _killed_run(url: str, after: float) -> float:
    """Start a full reconciliation in a child; SIGKILL it after `after` seconds.
    Returns when it was killed (or finished first)."""
    process = subprocess.Popen([sys.executable, "-m", "bench.reconcile", "--child", url,
                                "full"], cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    started = time.perf_counter()
    try:
        process.wait(timeout=after)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return time.perf_counter() - started


async def _autovacuum_off(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            for table in WRITTEN:
                await conn.execute(text(
                    f"ALTER TABLE {table} SET (autovacuum_enabled = false)"))
    finally:
        await engine.dispose()


async def bench(households: int, points: tuple[float, ...]) -> dict[str, Any]:
    persons = round(households * 4.1)
    pop = population(persons, "default")
    with ExitStack() as stack:
        server = prepare(stack, ["postgresql"])
        template = fresh_database(server, "postgresql", "faults_template")
        await upgrade(template)
        staged = await stage(template, pop)
        print(f"  staged {staged:,} records")
        clean_url = await _copy(template, "faults_template", "faults_clean")
        clean = child(clean_url, "full")
        reference = await snapshot(clean_url)
        print(f"  clean run {clean['seconds']:.1f} s, {reference['persons']:,} persons")
        cases = []
        for point in points:
            url = await _copy(template, "faults_template", f"faults_{int(point * 100)}")
            await _autovacuum_off(url)
            killed_at = _killed_run(url, point * clean["seconds"])
            rerun = child(url, "full")
            after = await snapshot(url)
            case = {"kill_at_share": point, "killed_after_s": round(killed_at, 1),
                    "rerun_s": round(rerun["seconds"], 1),
                    "rerun_over_clean": round(rerun["seconds"] / clean["seconds"], 2),
                    "vacuumed_after_interruption":
                        rerun["counts"].get("vacuumed_after_interruption", 0),
                    **_compare(reference, after)}
            cases.append(case)
            print("  " + json.dumps(case))
    reference.pop("_linked")
    return {"households": households, "staged_records": staged,
            "clean_s": round(clean["seconds"], 1), "clean": reference, "kills": cases}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=20_000)
    parser.add_argument("--points", type=float, nargs="+", default=list(KILL_POINTS))
    args = parser.parse_args()
    result = asyncio.run(bench(args.households, tuple(args.points)))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "faults.json").write_text(json.dumps(result, indent=2))
    worst = max((c["rerun_over_clean"] for c in result["kills"]), default=0.0)
    lost = sum(c["records_lost"] for c in result["kills"])
    print(f"clean {result['clean_s']} s; worst re-run {worst}x the clean run; "
          f"records lost {lost}")


if __name__ == "__main__":
    main()
