"""Where a run's time goes, step by step: reported with its counts (`seconds_*`), so a
slow run says which step was slow."""

from __future__ import annotations

import time
from collections import Counter


class Clock:
    def __init__(self) -> None:
        self._last = time.perf_counter()
        self.spent: Counter[str] = Counter()

    def lap(self, step: str) -> None:
        """Charge the time since the last lap to `step` (steps may repeat)."""
        now = time.perf_counter()
        self.spent[step] += now - self._last
        self._last = now

    def seconds(self, prefix: str = "") -> dict[str, float]:
        """As run counts: `seconds_{prefix}_{step}` (`seconds_{step}` without a prefix)."""
        head = f"seconds_{prefix}_" if prefix else "seconds_"
        return {f"{head}{step}": round(value, 2) for step, value in self.spent.items()}
