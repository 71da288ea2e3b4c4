"""Service figures a district reports to the ministry, pure: how long answers took
against their SLA, as medians and 90th percentiles, from pairs of moments."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Timing:
    measured: int
    median_hours: float | None
    p90_hours: float | None
    within_sla: float | None  # share answered by their due time


def percentile(sorted_values: list[float], share: float) -> float:
    """Linear interpolation between closest ranks (the common definition, as
    PostgreSQL's percentile_cont)."""
    if not sorted_values:
        raise ValueError("no values")
    position = share * (len(sorted_values) - 1)
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def timing(spans: Iterable[tuple[datetime, datetime, datetime | None]]) -> Timing:
    """From (start, end, due) triples: how long, and how many by their due time."""
    hours: list[float] = []
    on_time = with_due = 0
    for start, end, due in spans:
        hours.append((end - start).total_seconds() / 3600)
        if due is not None:
            with_due += 1
            on_time += end <= due
    if not hours:
        return Timing(0, None, None, None)
    hours.sort()
    return Timing(len(hours), round(percentile(hours, 0.5), 2),
                  round(percentile(hours, 0.9), 2),
                  round(on_time / with_due, 4) if with_due else None)
