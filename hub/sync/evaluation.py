"""Linkage quality against a ground truth: what `bench/` reports and tests hold to.

Pure. Two views of the same clustering:
- pairwise: every two records put in one person is a predicted link; precision and
  recall over those pairs (the usual record-linkage measure, computed from cluster
  sizes so a million records cost no pair enumeration);
- record-to-person: a record is correctly linked when the person it was put in is,
  by majority, the right one.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Quality:
    records: int
    precision: float
    recall: float
    f1: float
    record_precision: float
    predicted_entities: int
    true_entities: int

    def as_dict(self) -> dict[str, float | int]:
        return {k: round(v, 5) if isinstance(v, float) else v for k, v in self.__dict__.items()}


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def quality(predicted: Mapping[Hashable, Hashable], truth: Mapping[Hashable, Hashable]
            ) -> Quality:
    """`predicted` and `truth` map each record to its (predicted / true) entity; only
    records present in both count."""
    records = [r for r in predicted if r in truth]
    cells: Counter[tuple[Hashable, Hashable]] = Counter(
        (predicted[r], truth[r]) for r in records)
    by_predicted: Counter[Hashable] = Counter(predicted[r] for r in records)
    by_truth: Counter[Hashable] = Counter(truth[r] for r in records)
    together = sum(_pairs(n) for n in cells.values())
    predicted_pairs = sum(_pairs(n) for n in by_predicted.values())
    true_pairs = sum(_pairs(n) for n in by_truth.values())
    precision = together / predicted_pairs if predicted_pairs else 1.0
    recall = together / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    majority: dict[Hashable, int] = defaultdict(int)
    for (cluster, _), n in cells.items():
        majority[cluster] = max(majority[cluster], n)
    correct = sum(majority.values())
    return Quality(len(records), precision, recall, f1,
                   correct / len(records) if records else 1.0,
                   len(by_predicted), len(by_truth))
