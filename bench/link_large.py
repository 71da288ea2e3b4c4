"""`slrt-hub link` at an office's largest: a district's DTKS individuals against its
BPJS members, both as CSV, through exactly what the command runs. Prints the rows, the
time, the peak memory and pairwise precision/recall against the generator's ground
truth.

    .venv/bin/python -m bench.link_large --households 50000
"""

from __future__ import annotations

import argparse
import csv
import resource
import time
from pathlib import Path

from hub.jsontext import read_jsonl
from hub.simulators.population_files import is_current, write_population
from hub.sync.filelink import FieldMap, link_files, read_table

CACHE = Path(__file__).parent / ".cache"


def _population(households: int) -> Path:
    folder = CACHE / f"link-{households}"
    if not is_current(folder):
        write_population(folder, "33.14", households, 2026)
    return folder


def _csvs(population: Path, out: Path) -> tuple[Path, Path]:
    dtks, bpjs = out / "dtks.csv", out / "bpjs.csv"
    with dtks.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["IDARTBDT", "Nama", "NIK", "TglLahir", "JnsKel"])
        for r in read_jsonl(population / "agencies" / "dtks_individual.jsonl"):
            writer.writerow([r["IDARTBDT"], r["Nama"], r["NIK"] or "", r["TglLahir"] or "",
                             "L" if r["JnsKel"] == 1 else "P"])
    with bpjs.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["noKartu", "nama", "nik", "tglLahir", "sex"])
        for r in read_jsonl(population / "agencies" / "bpjs.jsonl"):
            writer.writerow([r["noKartu"], r["nama"], r["nik"] or "", r["tglLahir"] or "",
                             r["sex"]])
    return dtks, bpjs


def _truth(population: Path) -> set[tuple[str, str]]:
    person: dict[tuple[str, str], str] = {}
    with (population / "ground_truth.csv").open() as handle:
        for row in csv.DictReader(handle):
            if row["person_id"]:
                person[(row["source"], row["source_key"])] = row["person_id"]
    dtks: dict[str, list[str]] = {}
    for (source, key), who in person.items():
        if source == "dtks_individual":  # a person listed twice in DTKS has two keys
            dtks.setdefault(who, []).append(key)
    return {(left, key) for (source, key), who in person.items() if source == "bpjs"
            for left in dtks.get(who, ())}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--households", type=int, default=50_000)
    args = parser.parse_args()
    population = _population(args.households)
    work = CACHE / f"link-{args.households}-csv"
    work.mkdir(parents=True, exist_ok=True)
    dtks, bpjs = _csvs(population, work)
    started = time.perf_counter()
    tables = [read_table(dtks), read_table(bpjs)]
    fields = ["key=IDARTBDT:noKartu", "name=Nama:nama", "id=NIK:nik",
              "birth_date=TglLahir:tglLahir", "sex=JnsKel:sex"]
    result = link_files(tables[0], tables[1], FieldMap.parse(fields, tables), threshold=0.5)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
    found = {(result.keys[p.left][1], result.keys[p.right][1]) for p in result.pairs}
    truth = _truth(population)
    hit = len(found & truth)
    print(f"rows {len(tables[0].rows):,} + {len(tables[1].rows):,}: {seconds:.1f} s, "
          f"peak RSS {peak:.2f} GiB, P {hit / max(len(found), 1):.4f} "
          f"R {hit / max(len(truth), 1):.4f}, pairs {len(found):,} of {len(truth):,} true")


if __name__ == "__main__":
    main()
