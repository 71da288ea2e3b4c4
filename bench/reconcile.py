"""Benchmark: reconciliation quality and speed against the generator's ground truth.

    .venv/bin/python -m bench.reconcile --persons 100000 1000000 --noise default harsh

For each size, noise profile and backend: the agency files are staged straight into a
fresh database (the HTTP side is bench/ingest.py's business), then, in a child process
so its peak memory is its own,
- a full reconciliation: seconds, peak RSS, persons made, review tasks;
- quality against ground_truth.csv: pairwise precision / recall / F1 after clustering,
  record-to-person precision (all links, and those made automatically), findings recall
  for DECEASED_STILL_ENROLLED and INVALID_NIK;
- an incremental run after 1% of the person-records changed: seconds and the share of
  the full run's time;
- scoring throughput: candidate pairs blocked and scored per second by the model alone.
Writes bench/results/reconcile.json.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import random
import subprocess
import sys
import time
from collections import defaultdict
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bench.common import CACHE, RESULTS, ROOT, fresh_database, prepare
from hub.config import load_settings
from hub.connectors.registry import enabled_connectors
from hub.connectors.staging import stage_page
from hub.db.engine import create_engine
from hub.db.migrate import upgrade
from hub.db.models import Finding, MatchKey, MatchModel, SourceRecord
from hub.jsontext import read_jsonl
from hub.simulators.population_files import is_current, write_population
from hub.sync.evaluation import quality

PERSONS_PER_HOUSEHOLD = 4.1
PAGE = 5000


def population(persons: int, noise: str) -> Path:
    households = max(1, round(persons / PERSONS_PER_HOUSEHOLD))
    out = CACHE / f"recon-{households}-{noise}"
    if not is_current(out):
        started = time.perf_counter()
        write_population(out, "33.14", households, seed=2026, noise_name=noise)
        print(f"  generated {households:,} households ({noise}) "
              f"in {time.perf_counter() - started:.1f}s")
    return out


def _streams() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for connector in enabled_connectors(load_settings()):
        for stream in connector.streams:
            if stream.source not in out or stream.name in ("households", "individuals"):
                out[stream.source] = stream
    return out


async def stage(url: str, pop: Path, *, change: float = 0.0, seed: int = 1) -> int:
    """Stage every agency file (or, with `change`, re-stage that share of the person
    records with a changed address or name spelling)."""
    engine = create_engine(url)
    streams = _streams()
    rng = random.Random(seed)
    staged = 0
    try:
        for path in sorted((pop / "agencies").glob("*.jsonl")):
            stream = streams[path.stem]
            page: list[Any] = []
            for raw in read_jsonl(path):
                if change:
                    if path.stem == "dtks_household" or rng.random() >= change:
                        continue
                    raw = _changed(raw, rng)
                page.append(raw)
                if len(page) == PAGE:
                    async with engine.begin() as conn:
                        staged += (await stage_page(conn, stream, page)).fetched
                    page = []
            if page:
                async with engine.begin() as conn:
                    staged += (await stage_page(conn, stream, page)).fetched
    finally:
        await engine.dispose()
    return staged


def _changed(raw: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    out = dict(raw)
    for field in ("ALAMAT", "alamat"):
        if field in out:
            out[field] = f"{out[field] or ''} (pindah RT {rng.randint(1, 20):03d})"
            return out
    for field in ("Nama", "nama", "NAMA_LGKP"):
        if out.get(field):
            out[field] = out[field].upper() if rng.random() < 0.5 else out[field].title()
            return out
    out["_touched"] = rng.random()
    return out


def child(url: str, mode: str) -> dict[str, Any]:
    """Run one reconciliation in a fresh interpreter; returns its result and peak RSS."""
    process = subprocess.run(
        [sys.executable, "-m", "bench.reconcile", "--child", url, mode],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    if process.returncode:
        raise RuntimeError(process.stderr[-3000:])
    return json.loads(process.stdout.strip().splitlines()[-1])


async def _run_child(url: str, mode: str) -> None:
    # The linkage engine's libraries (Splink, DuckDB, sqlglot: about a second) load once
    # per process; the hub's scheduler is a long-lived process, so no run pays it.
    import hub.sync.links  # noqa: F401
    from hub.sync.reconcile import Reconciler

    settings = load_settings()
    engine = create_engine(url)
    try:
        started = time.perf_counter()
        if mode == "job":  # as the scheduler runs it: leased, closing what a crash left
            from hub.sync import jobs

            result = await jobs.reconcile(engine, settings, full=True)
        else:
            result = await Reconciler(engine, settings).run(full=mode == "full")
        seconds = time.perf_counter() - started
    finally:
        await engine.dispose()
    print(json.dumps({"seconds": seconds, "peak_rss_mib": _peak_rss_mib(),
                      "counts": result.counts}))


def _peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def measure_quality(url: str, pop: Path) -> dict[str, Any]:
    truth: dict[tuple[str, str], str] = {}
    with (pop / "ground_truth.csv").open() as handle:
        for row in csv.DictReader(handle):
            if row["person_id"]:
                truth[(row["source"], row["source_key"])] = row["person_id"]
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(
                SourceRecord.id, SourceRecord.source, SourceRecord.source_key,
                SourceRecord.person_id, SourceRecord.link_method,
            ).where(SourceRecord.person_id.is_not(None)))).all()
            findings = (await conn.execute(select(Finding.kind, Finding.subject_id,
                                                  Finding.evidence))).all()
    finally:
        await engine.dispose()
    predicted = {(r.source, r.source_key): r.person_id for r in rows}
    overall = quality(predicted, truth)
    automatic = {(r.source, r.source_key) for r in rows if r.link_method in
                 ("NIK", "PROBABILISTIC")}
    auto = quality({k: v for k, v in predicted.items() if k in automatic}, truth)
    return {"pairwise": overall.as_dict(), "auto_link_record_precision":
            round(auto.record_precision, 5), "auto_linked_records": auto.records,
            "findings": _findings_recall(pop, rows, findings)}


def _findings_recall(pop: Path, rows: list[Any], findings: list[Any]) -> dict[str, Any]:
    """Recall of two findings whose truth the agency files alone determine."""
    truth_of: dict[tuple[str, str], str] = {}
    with (pop / "ground_truth.csv").open() as handle:
        for row in csv.DictReader(handle):
            if row["person_id"]:
                truth_of[(row["source"], row["source_key"])] = row["person_id"]
    dead = {truth_of[("dukcapil", r["NIK"])] for r in read_jsonl(pop / "agencies" /
                                                                "dukcapil.jsonl")
            if r["STATUS_HIDUP"] == "MATI" and ("dukcapil", r["NIK"]) in truth_of}
    active_pbi = {truth_of[("bpjs", r["noKartu"])] for r in read_jsonl(pop / "agencies" /
                                                                      "bpjs.jsonl")
                  if r["statusPeserta"]["kode"] == "0" and ("bpjs", r["noKartu"]) in truth_of
                  and r["jenisPeserta"]["keterangan"].upper().startswith("PBI")}
    expected_dead = dead & active_pbi
    person_truth: dict[int, set[str]] = defaultdict(set)
    for r in rows:
        if (r.source, r.source_key) in truth_of:
            person_truth[r.person_id].add(truth_of[(r.source, r.source_key)])
    found_dead = {t for kind, subject, evidence in findings
                  if kind == "DECEASED_STILL_ENROLLED" and evidence.get("program") == "PBI_JKN"
                  for t in person_truth.get(subject, ())}
    invalid_records = {r["IDARTBDT"] for r in read_jsonl(pop / "agencies" /
                                                          "dtks_individual.jsonl")
                       if not _valid(r.get("NIK"))}
    found_invalid = {e["record"]["source_key"] for kind, _, e in findings
                     if kind == "INVALID_NIK" and e["record"]["source"] == "dtks_individual"}
    return {
        "deceased_still_enrolled_pbi": {
            "expected": len(expected_dead),
            "recall": round(len(found_dead & expected_dead) / max(1, len(expected_dead)), 4)},
        "invalid_nik_dtks": {
            "expected": len(invalid_records),
            "recall": round(len(found_invalid & invalid_records) / max(1, len(invalid_records)),
                            4)},
    }


def _valid(nik: Any) -> bool:
    from hub.domain.nik import clean_nik, nik_problem

    cleaned = clean_nik(nik) if nik else ""
    return bool(cleaned) and nik_problem(cleaned) is None


SCORING_SAMPLE = 300_000  # match keys (whole villages) scored for the throughput figure


def _whole_villages(keys: list[Any], size: int) -> list[Any]:
    villages: dict[Any, list[Any]] = defaultdict(list)
    for k in keys:
        if k["village_code"]:
            villages[k["village_code"]].append(k)
    order = sorted(villages)
    random.Random(2026).shuffle(order)
    sample: list[Any] = []
    for village in order:
        if sample and len(sample) + len(villages[village]) > size:
            break
        sample += villages[village]
    return sample


async def keys_and_model(url: str) -> tuple[Any, dict[str, Any]]:
    """The registry's match keys and its latest model."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            keys = (await conn.execute(select(MatchKey))).mappings().all()
            model = (await conn.execute(select(MatchModel.settings)
                                        .order_by(MatchModel.version.desc()))).scalars().first()
    finally:
        await engine.dispose()
    return keys, model


async def scoring_speed(url: str) -> dict[str, Any]:
    """Candidate pairs blocked and scored per second by the trained model on the
    registry's match keys (no database writes, no Python objects per pair)."""
    from hub.sync.resolution import LINKAGE_COLUMNS, features_from_key, linkage_row
    from hub.sync.scoring import LinkageEngine

    keys, model = await keys_and_model(url)
    names: dict[str, int] = defaultdict(int)
    for k in keys:
        names[k["name_norm"]] += 1
    # A rate needs no whole registry: at 1M, materialising every pair at once would
    # exceed the linkage engine's memory limit (the reconciliation itself streams).
    # Whole villages, drawn at random, keep the blocks (and the pairs per record) as
    # they are; the first rows of the table would be one agency's records, which
    # rarely pair among themselves, and time the engine's set-up instead.
    sample = _whole_villages(keys, SCORING_SAMPLE)
    rows = [linkage_row(k["record_id"], features_from_key(k), names[k["name_norm"]] / len(keys))
            for k in sample]
    linkage = LinkageEngine(LINKAGE_COLUMNS, model)
    try:
        table = linkage.load(rows)  # into DuckDB first: the rate is of blocking and scoring
        started = time.perf_counter()
        pairs = linkage.count_scored(table)
        seconds = time.perf_counter() - started
    finally:
        linkage.close()
    return {"records": len(rows), "pairs_scored": pairs, "seconds": round(seconds, 2),
            "pairs_per_second": round(pairs / seconds)}


async def run_one(server: Any, backend: str, persons: int, noise: str) -> dict[str, Any]:
    pop = population(persons, noise)
    url = fresh_database(server, backend, f"recon_{persons}_{noise}")
    await asyncio.to_thread(upgrade, url)
    started = time.perf_counter()
    staged = await stage(url, pop)
    stage_seconds = time.perf_counter() - started
    print(f"  staged {staged:,} records in {stage_seconds:.0f}s")
    full = child(url, "full")
    print(f"  full reconciliation {full['seconds']:.1f}s, peak {full['peak_rss_mib']:.0f} MiB")
    measured = await measure_quality(url, pop)
    print(f"  quality {measured['pairwise']}")
    speed = await scoring_speed(url)
    print(f"  scoring {speed['pairs_per_second']:,} pairs/s")
    changed = await stage(url, pop, change=0.01)
    incremental = child(url, "incremental")
    share = incremental["seconds"] / full["seconds"]
    print(f"  incremental after {changed:,} changed records: {incremental['seconds']:.1f}s "
          f"({share:.1%} of full)")
    return {"backend": backend, "persons": persons, "noise": noise, "records": staged,
            "stage_seconds": round(stage_seconds, 1), "full": full, "quality": measured,
            "scoring": speed, "incremental": {**incremental, "changed_records": changed,
                                              "share_of_full": round(share, 4)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--persons", type=int, nargs="+", default=[100_000])
    parser.add_argument("--noise", nargs="+", default=["default", "harsh"])
    parser.add_argument("--backends", nargs="+", default=["postgresql"])
    parser.add_argument("--child", nargs=2, metavar=("URL", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(_run_child(*args.child))
        return
    results = []
    with ExitStack() as stack:
        server = prepare(stack, args.backends)
        for persons in args.persons:
            for noise in args.noise:
                for backend in args.backends:
                    print(f"{backend}, {persons:,} persons, {noise} noise")
                    results.append(asyncio.run(run_one(server, backend, persons, noise)))
    out = RESULTS / "reconcile.json"
    out.write_text(json.dumps(results, indent=1, default=str))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
