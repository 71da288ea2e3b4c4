"""Writes a generated population to disk as JSON Lines, one file per table and agency.

Files, not a database: the simulators (other agencies' systems) must not read the hub's
database, and a file per agency is what a bulk export looks like.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import IO, Any

from hub.simulators.population import (
    GENERATOR_VERSION,
    AgencyRecord,
    HouseholdTruth,
    NoiseProfile,
    PopulationGenerator,
)

TRUTH_FILES = ("households", "persons", "enrollments")
AGENCY_SOURCES = (
    "dukcapil", "dtks_household", "dtks_individual", "bpjs", "education", "baznas",
)


def _json_default(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _dump(handle: IO[str], row: dict[str, Any]) -> None:
    handle.write(json.dumps(row, default=_json_default, ensure_ascii=False))
    handle.write("\n")


def household_row(hh: HouseholdTruth) -> dict[str, Any]:
    return {
        "id": hh.id, "kk": hh.kk, "village_code": hh.village.code, "address": hh.address,
        "desil": hh.desil, "head_person_id": hh.head.id,
        "moved_from": hh.moved_from.code if hh.moved_from else None,
    }


def write_population(
    out_dir: Path,
    regency: str,
    households: int,
    seed: int,
    noise_name: str = "default",
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Generate and write; returns the manifest (also written as manifest.json)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "agencies").mkdir(exist_ok=True)
    generator = PopulationGenerator(regency, households, seed, NoiseProfile.named(noise_name))
    counts: Counter[str] = Counter()
    with ExitStack() as stack:
        def open_(path: Path) -> IO[str]:
            return stack.enter_context(path.open("w", encoding="utf-8", newline=""))

        truth = {name: open_(out_dir / f"{name}.jsonl") for name in TRUTH_FILES}
        agencies = {s: open_(out_dir / "agencies" / f"{s}.jsonl") for s in AGENCY_SOURCES}
        ground = csv.writer(open_(out_dir / "ground_truth.csv"))
        ground.writerow(["source", "source_key", "person_id", "household_id"])
        for bundle in generator:
            hh = bundle.truth
            _dump(truth["households"], household_row(hh))
            for person in hh.members:
                row = asdict(person)
                row["sex"] = person.sex.value
                row["village_code"] = hh.village.code
                _dump(truth["persons"], row)
            for enrollment in hh.enrollments:
                _dump(truth["enrollments"], asdict(enrollment))
            record: AgencyRecord
            for record in bundle.agency_records:
                _dump(agencies[record.source], record.payload)
                ground.writerow(
                    [record.source, record.source_key, record.person_id or "", record.household_id]
                )
                counts[record.source] += 1
            counts["households"] += 1
            counts["persons"] += len(hh.members)
            counts["enrollments"] += len(hh.enrollments)
            if progress:
                progress(1)
    manifest = {
        "regency": regency, "households": households, "seed": seed, "noise": noise_name,
        "generator": GENERATOR_VERSION, "counts": dict(counts),
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def is_current(population_dir: Path) -> bool:
    """Whether a folder holds a complete district written by this generator version."""
    try:
        manifest = json.loads((population_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    return manifest.get("generator") == GENERATOR_VERSION
