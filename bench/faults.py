"""Fault bench: what a crash, an agency fault or a database outage loses, and how long
the hub takes to come back.

    .venv/bin/python -m bench.faults --households 20000 --backends postgresql sqlite

On a generated district, on each backend (a throwaway PostgreSQL with production
durability; an SQLite file):

- **sync killed**: `slrt-hub sync --no-reconcile` against the five simulated agencies,
  SIGKILLed at shares of a clean sync's duration, then run again. Compared with the clean
  sync: staged records lost (in the clean staging, not after recovery), duplicated
  (two rows for one agency record), and the re-run's seconds.
- **agency faults**: the agencies answer 503 at random, throttle with 429, drop
  connections and cut JSON answers in half during the sync; then one agency (BPJS) is
  down for a whole sync and back for the next. Lost and duplicated as above.
- **reconciliation killed**: a full reconciliation, run as the scheduler runs it
  (`hub.sync.jobs.reconcile`: leased, closing what a crash left), SIGKILLed at shares
  of a clean run's duration (on PostgreSQL with autovacuum off on the tables a run
  writes: the killed run's dead rows stay, the worst case), then run again. Compared
  with the clean run: linked records lost, persons made twice, open findings that
  differ; and the re-run's seconds against the clean run's (target: at most 1.5x).
- **database outage under load** (PostgreSQL): `slrt-hub serve` on the reconciled
  registry, 32 clients asking `person(nik)` for random NIKs, while the server restarts and
  then stops for 9 s. Every answer is classed: right (200 with the person), refused
  (503 with Retry-After, no data) or wrong (200 with an error or partial data, or any
  other status); and how long after the database is back the first right answer comes.

- **leader killed during a triggered sync**: two `slrt-hub schedule` workers, a sync of
  Dukcapil queued as `triggerSync` queues it, the leader SIGKILLed once the sync has
  staged records; the standby must lead after the lease lapses, queue the request again
  and run it once. Reported: records lost and duplicated against the clean sync, the
  request's attempts, sync runs left RUNNING, and seconds from the kill to the request
  done (target: the lease plus one clean sync of that agency).

A webhook receiver down is measured by `bench/webhooks.py` (and tested in
`tests/test_deployment.py`). `--cases` picks a subset. Writes bench/results/faults.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from sqlalchemy import text

from bench.common import CACHE, RESULTS, ROOT, fresh_database, prepare, wait_until_answers
from bench.ingest import NAMES, start_simulators
from bench.reconcile import child
from hub.db.engine import create_engine
from hub.db.migrate import upgrade
from hub.simulators.population_files import is_current, write_population
from tests.pg_server import free_port

KILL_POINTS = (0.1, 0.3, 0.5, 0.7, 0.85, 0.95)
SYNC_KILL_POINTS = (0.2, 0.5, 0.8)
WRITTEN = ("person", "household", "source_record", "match_key", "finding", "review_task",
           "enrollment")
FLAKY = {"error_rate": 0.05, "throttle_every": 11, "drop_rate": 0.03, "truncate_rate": 0.03,
         "retry_after_s": 0.05, "seed": 7}


def population(households: int) -> Path:
    out = CACHE / f"faults-{households}"
    if not is_current(out):
        write_population(out, "33.14", households, seed=2026)
    return out


def _copy_sqlite(template: str, name: str) -> Path:
    source, target = CACHE / f"{template}.db", CACHE / f"{name}.db"
    for leftover in CACHE.glob(f"{name}.db*"):
        leftover.unlink()
    shutil.copyfile(source, target)
    for suffix in ("-wal", "-shm"):  # a database left in WAL mode keeps both
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")
    return target


class Databases:
    """Fresh databases and copies of a template, on either backend."""

    def __init__(self, server: Any, backend: str) -> None:
        self.server = server
        self.backend = backend

    async def fresh(self, name: str) -> str:
        url = fresh_database(self.server, self.backend, name)
        await asyncio.to_thread(upgrade, url)  # Alembic runs its own event loop
        return url

    async def copy(self, template_url: str, template: str, name: str) -> str:
        if self.backend == "sqlite":
            target = await asyncio.to_thread(_copy_sqlite, template, name)
            return f"sqlite+aiosqlite:///{target}"
        plain = template_url.replace("postgresql+asyncpg://", "postgresql://")
        conn = await asyncpg.connect(plain)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        finally:
            await conn.close()
        return template_url.rsplit("/", 1)[0] + "/" + name


async def _scalars(url: str, query: str) -> list[Any]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(text(query))).all())
    finally:
        await engine.dispose()


async def staged(url: str) -> dict[str, Any]:
    rows = await _scalars(url, "SELECT source, source_key, quarantine_reason IS NOT NULL "
                               "FROM source_record")
    quarantined = sum(1 for r in rows if r[2])
    keys = [(r[0], r[1]) for r in rows]
    return {"records": len(rows), "duplicated": len(keys) - len(set(keys)),
            "_keys": set(keys), "quarantined": quarantined}


def _sync_env(url: str, ports: dict[str, int]) -> dict[str, str]:
    env = {**os.environ, "HUB_DATABASE__URL": url, "HUB_SCHEDULE__ENABLED": "false"}
    for name, port in ports.items():
        env[f"HUB_CONNECTORS__{name.upper()}__BASE_URL"] = f"http://127.0.0.1:{port}"
    return env


def _sync(url: str, ports: dict[str, int], kill_after: float | None = None) -> float:
    """`slrt-hub sync --no-reconcile` of every agency; SIGKILLed after `kill_after` s."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "sync", "--no-reconcile"], cwd=ROOT,
        env=_sync_env(url, ports), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    try:
        process.wait(timeout=kill_after if kill_after is not None else 3600)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return time.perf_counter() - started


async def _faults(ports: dict[str, int], names: tuple[str, ...], faults: dict[str, Any]
                  ) -> None:
    async with aiohttp.ClientSession() as session:
        for name in names:
            async with session.post(f"http://127.0.0.1:{ports[name]}/_sim/faults",
                                    json=faults) as response:
                response.raise_for_status()


def _lost(clean: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {"records_lost": len(clean["_keys"] - after["_keys"]),
            "records_extra": len(after["_keys"] - clean["_keys"]),
            "duplicated": after["duplicated"], "quarantined": after["quarantined"]}


def _scheduler(url: str, ports: dict[str, int]) -> subprocess.Popen:
    """A `slrt-hub schedule` worker with no periodic job: it only runs queued syncs."""
    env = {**_sync_env(url, ports), "HUB_SCHEDULE__ENABLED": "true",
           "HUB_SCHEDULE__CONNECTORS": "{}"}
    return subprocess.Popen([sys.executable, "-m", "hub.cli", "schedule"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


async def _until(url: str, query: str, seconds: float) -> tuple[Any, ...] | None:
    """The first row of `query` once it has one (polled), or None after `seconds`."""
    engine = create_engine(url)
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            async with engine.connect() as conn:
                row = (await conn.execute(text(query))).first()
            if row is not None:
                return tuple(row)
            await asyncio.sleep(0.2)
        return None
    finally:
        await engine.dispose()


async def leader_killed(dbs: Databases, ports: dict[str, int], clean: dict[str, Any],
                        source: str = "dukcapil") -> dict[str, Any]:
    url = await dbs.fresh("faults_leader")
    first = _scheduler(url, ports)
    second: subprocess.Popen | None = None
    try:
        led = await _until(url, "SELECT holder FROM lease WHERE name = 'scheduler' AND "
                                f"holder LIKE '%:{first.pid}:%'", 60)
        assert led, "the first scheduler never led"
        second = _scheduler(url, ports)
        engine = create_engine(url)
        try:
            async with engine.begin() as conn:
                request = (await conn.execute(text(
                    "INSERT INTO sync_request (connector, \"full\", status, attempts) "
                    "VALUES (:c, false, 'QUEUED', 0) RETURNING id"), {"c": source})).scalar_one()
        finally:
            await engine.dispose()
        staging = await _until(url, "SELECT 1 FROM sync_request r WHERE r.id = "
                                    f"{request} AND r.status = 'RUNNING' AND EXISTS (SELECT 1 "
                                    f"FROM source_record WHERE source = '{source}')", 600)
        assert staging, "the queued sync never started staging"
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        killed = time.perf_counter()
        done = await _until(url, "SELECT status, attempts, started_at, finished_at FROM "
                                 f"sync_request WHERE id = {request} AND status IN "
                                 "('DONE', 'FAILED')", 900)
        recover = time.perf_counter() - killed
        left_running = await _scalars(url, "SELECT count(*) FROM sync_run WHERE connector = "
                                           f"'{source}' AND status = 'RUNNING'")
        after = await staged(url)
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=60)
    theirs = {key for key in clean["_keys"] if key[0] == source}
    return {"case": f"leader SIGKILLed during a triggered {source} sync",
            "request": done[0] if done else "not done in 900 s",
            "attempts": done[1] if done else None,
            "runs_left_running": left_running[0][0],
            "records_lost": len(theirs - after["_keys"]),
            "duplicated": after["duplicated"],
            "recover_s": round(recover, 1) if done else None,
            # the second attempt's own sync, from the standby's start to done
            "rerun_s": round((_when(done[3]) - _when(done[2])).total_seconds(), 1)
            if done else None}


def _when(value: Any) -> datetime:
    """A timestamp as either driver returns it (SQLite's come back as text)."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


async def sync_faults(dbs: Databases, pop: Path, cases_wanted: set[str]
                      ) -> tuple[list[dict[str, Any]], str]:
    """Sync cases; returns them and the URL of the cleanly synced database."""
    simulators, ports = start_simulators(pop)
    cases: list[dict[str, Any]] = []
    try:
        clean_url = await dbs.fresh("faults_sync_clean")
        clean_s = _sync(clean_url, ports)
        clean = await staged(clean_url)
        print(f"  clean sync {clean_s:.1f} s, {clean['records']:,} records", flush=True)
        if "leader" in cases_wanted:
            case = await leader_killed(dbs, ports, clean)
            cases.append(case)
            print("  " + json.dumps(case), flush=True)
        if "sync" not in cases_wanted:
            return cases, clean_url
        for point in SYNC_KILL_POINTS:
            url = await dbs.fresh(f"faults_sync_{int(point * 100)}")
            killed = _sync(url, ports, kill_after=point * clean_s)
            rerun = _sync(url, ports)
            case = {"case": f"sync killed at {point:.0%}", "killed_after_s": round(killed, 1),
                    "recover_s": round(rerun, 1), "clean_s": round(clean_s, 1),
                    **_lost(clean, await staged(url))}
            cases.append(case)
            print("  " + json.dumps(case), flush=True)
        url = await dbs.fresh("faults_sync_flaky")
        await _faults(ports, NAMES, FLAKY)
        flaky_s = _sync(url, ports)
        await _faults(ports, NAMES, {})
        after_flaky = await staged(url)
        rerun = _sync(url, ports)  # whatever a stream gave up on comes in the next run
        case = {"case": "agencies flaky (503, 429, drops, truncated JSON)",
                "first_s": round(flaky_s, 1), "recover_s": round(rerun, 1),
                "lost_after_first_run": len(clean["_keys"] - after_flaky["_keys"]),
                **_lost(clean, await staged(url))}
        cases.append(case)
        print("  " + json.dumps(case), flush=True)
        url = await dbs.fresh("faults_sync_down")
        await _faults(ports, ("bpjs",), {"error_rate": 1.0})
        _sync(url, ports)
        down = await staged(url)
        await _faults(ports, ("bpjs",), {})
        rerun = _sync(url, ports)
        case = {"case": "BPJS down for a sync, back for the next",
                "bpjs_records_while_down": sum(1 for s, _ in down["_keys"] if s == "bpjs"),
                "recover_s": round(rerun, 1), **_lost(clean, await staged(url))}
        cases.append(case)
        print("  " + json.dumps(case), flush=True)
    finally:
        simulators.terminate()
        simulators.wait(timeout=30)
    return cases, clean_url


async def snapshot(url: str) -> dict[str, Any]:
    """What a reconciliation leaves, in numbers two runs can be compared by."""
    one = (await _scalars(url,
        "SELECT (SELECT count(*) FROM person), (SELECT count(*) FROM household), "
        "(SELECT count(*) FROM source_record WHERE person_id IS NOT NULL), "
        "(SELECT count(*) FROM review_task WHERE status = 'OPEN'), "
        "(SELECT count(*) FROM sync_run WHERE status = 'RUNNING')"))[0]
    findings = dict(await _scalars(
        url, "SELECT kind, count(*) FROM finding WHERE status = 'OPEN' GROUP BY kind"))
    linked = {(r[0], r[1]) for r in await _scalars(
        url, "SELECT source, source_key FROM source_record WHERE person_id IS NOT NULL")}
    return {"persons": one[0], "households": one[1], "linked_records": one[2],
            "open_review_tasks": one[3], "runs_left_running": one[4],
            "open_findings": findings, "_linked": linked}


def _compare(clean: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    kinds = set(clean["open_findings"]) | set(after["open_findings"])
    return {
        "records_lost": len(clean["_linked"] - after["_linked"]),
        "persons_extra": after["persons"] - clean["persons"],
        "findings_differ": sum(abs(clean["open_findings"].get(k, 0)
                                   - after["open_findings"].get(k, 0)) for k in kinds),
        "runs_left_running": after["runs_left_running"],
    }


def _killed_reconcile(url: str, after: float) -> float:
    process = subprocess.Popen([sys.executable, "-m", "bench.reconcile", "--child", url,
                                "job"], cwd=ROOT, stdout=subprocess.DEVNULL,
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


async def reconcile_kills(dbs: Databases, synced_url: str, template: str
                          ) -> tuple[list[dict[str, Any]], str]:
    """Reconciliation cases on copies of the synced database; returns them and the
    URL of the cleanly reconciled copy."""
    clean_url = await dbs.copy(synced_url, template, "faults_reconciled")
    clean = child(clean_url, "job")
    reference = await snapshot(clean_url)
    print(f"  clean reconciliation {clean['seconds']:.1f} s, {reference['persons']:,} "
          "persons", flush=True)
    cases = []
    for point in KILL_POINTS:
        url = await dbs.copy(synced_url, template, f"faults_rec_{int(point * 100)}")
        if dbs.backend == "postgresql":
            await _autovacuum_off(url)
        killed = _killed_reconcile(url, point * clean["seconds"])
        rerun = child(url, "job")
        case = {"case": f"reconciliation killed at {point:.0%}",
                "killed_after_s": round(killed, 1), "recover_s": round(rerun["seconds"], 1),
                "clean_s": round(clean["seconds"], 1),
                "recover_over_clean": round(rerun["seconds"] / clean["seconds"], 2),
                "vacuumed_after_interruption":
                    rerun["counts"].get("vacuumed_after_interruption", 0),
                **_compare(reference, await snapshot(url))}
        cases.append(case)
        print("  " + json.dumps(case), flush=True)
    return cases, clean_url


class Load:
    """32 clients asking `person(nik)` until stopped, each answer classed."""

    def __init__(self, url: str, key: str, niks: list[str]) -> None:
        self.url, self.key, self.niks = url, key, niks
        self.counts = {"right": 0, "refused": 0, "wrong": 0, "unreachable": 0}
        self.wrong_examples: list[str] = []
        self.last_right = 0.0
        self.stopped = False

    async def _client(self, session: aiohttp.ClientSession, rng: random.Random) -> None:
        headers = {"authorization": f"Bearer {self.key}",
                   "accept": "application/graphql-response+json"}
        while not self.stopped:
            nik = rng.choice(self.niks)
            body = {"query": f'{{ person(nik: "{nik}") {{ nik name household {{ kk }} }} }}'}
            try:
                async with session.post(self.url, json=body, headers=headers) as response:
                    answer = await response.json(content_type=None)
                    status = response.status
                    retry = response.headers.get("retry-after")
            except (aiohttp.ClientError, TimeoutError):
                self.counts["unreachable"] += 1
                await asyncio.sleep(0.05)
                continue
            person = (answer.get("data") or {}).get("person") if answer else None
            if status == 200 and not answer.get("errors") and person and person["nik"] == nik:
                self.counts["right"] += 1
                self.last_right = time.perf_counter()
            elif status == 503 and retry and "data" not in answer:
                self.counts["refused"] += 1
                await asyncio.sleep(0.05)
            else:
                self.counts["wrong"] += 1
                if len(self.wrong_examples) < 5:
                    self.wrong_examples.append(f"{status}: {json.dumps(answer)[:300]}")

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            await asyncio.gather(*(self._client(session, random.Random(i))
                                   for i in range(32)))

    async def first_right_after(self, moment: float, limit: float = 120) -> float:
        while time.perf_counter() - moment < limit:
            if self.last_right > moment:
                return self.last_right - moment
            await asyncio.sleep(0.02)
        return float("inf")


def _serve(url: str) -> tuple[subprocess.Popen, int, str]:
    """`slrt-hub serve` on `url` (no scheduler) and a NATIONAL client's key."""
    env = {**os.environ, "HUB_DATABASE__URL": url, "HUB_SCHEDULE__ENABLED": "false"}
    made = subprocess.run(
        [sys.executable, "-m", "hub.cli", "clients", "create", f"faults-{free_port()}",
         "--role", "NATIONAL", "--legal-basis", "bench", "--purpose", "fault bench",
         "--rate-per-minute", "100000000"],  # the load, not the abuse limit, is measured
        cwd=ROOT, env={**env, "COLUMNS": "200"}, capture_output=True, text=True, check=True)
    port = free_port()
    serve = subprocess.Popen([sys.executable, "-m", "hub.cli", "serve", "--port", str(port)],
                             cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    wait_until_answers(f"http://127.0.0.1:{port}/healthz", serve, "the hub")
    return serve, port, made.stdout.strip().splitlines()[-1]


async def outage_under_load(server: Any, url: str) -> list[dict[str, Any]]:
    niks = [r[0] for r in await _scalars(
        url, "SELECT nik FROM person WHERE nik IS NOT NULL ORDER BY id LIMIT 5000")]
    serve, port, key = await asyncio.to_thread(_serve, url)
    cases = []
    try:
        load = Load(f"http://127.0.0.1:{port}/graphql", key, niks)
        running = asyncio.create_task(load.run())
        await asyncio.sleep(3)
        for label, down in (("PostgreSQL restarted", 0.0), ("PostgreSQL stopped for 9 s", 9.0)):
            before = dict(load.counts)
            await asyncio.to_thread(server.stop)
            await asyncio.sleep(down)
            await asyncio.to_thread(server.start)
            back = time.perf_counter()
            recovered = await load.first_right_after(back)
            await asyncio.sleep(3)
            during = {k: load.counts[k] - before[k] for k in load.counts}
            case = {"case": f"{label} under 32-client load", **during,
                    "recover_s": round(recovered, 2), "wrong_examples": load.wrong_examples}
            load.wrong_examples = []
            cases.append(case)
            print("  " + json.dumps(case), flush=True)
        load.stopped = True
        await running
    finally:
        serve.terminate()
        serve.wait(timeout=30)
    return cases


CASES = ("sync", "leader", "reconcile", "outage")


async def bench(households: int, backends: list[str], wanted: set[str]) -> dict[str, Any]:
    pop = population(households)
    report: dict[str, Any] = {"households": households}
    with ExitStack() as stack:
        server = prepare(stack, backends)
        for backend in backends:
            print(f"{backend}, {households:,} households", flush=True)
            dbs = Databases(server, backend)
            cases, synced_url = await sync_faults(dbs, pop, wanted)
            if not wanted & {"reconcile", "outage"}:
                report[backend] = cases
                continue
            reconcile_cases, reconciled_url = await reconcile_kills(
                dbs, synced_url, "faults_sync_clean")
            if "reconcile" in wanted:
                cases += reconcile_cases
            if backend == "postgresql" and "outage" in wanted:
                cases += await outage_under_load(server, reconciled_url)
            report[backend] = cases
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=20_000)
    parser.add_argument("--backends", nargs="+", default=["postgresql", "sqlite"])
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    args = parser.parse_args()
    report = asyncio.run(bench(args.households, args.backends, set(args.cases)))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "faults.json").write_text(json.dumps(report, indent=2))
    print("\n| backend | case | lost | duplicated | wrong answers | recover s | clean s |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for backend in args.backends:
        for c in report[backend]:
            print(f"| {backend} | {c['case']} | {c.get('records_lost', '')} | "
                  f"{c.get('duplicated', c.get('persons_extra', ''))} | {c.get('wrong', '')} | "
                  f"{c.get('recover_s', '')} | {c.get('clean_s', '')} |")
    for backend in args.backends:
        for c in report[backend]:
            if "attempts" in c:
                print(f"{backend}: {c['case']}: request {c['request']} after "
                      f"{c['attempts']} attempt(s), {c['runs_left_running']} run(s) left "
                      f"RUNNING; the standby's sync took {c['rerun_s']} s")


if __name__ == "__main__":
    main()
