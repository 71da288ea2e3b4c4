"""How long to wait before trying again: one rule for every retry the hub makes (calls
to agencies, webhooks, DCI callbacks)."""

from __future__ import annotations

import random
from typing import Literal


def backoff(failures: int, base: float, cap: float, rng: random.Random | None = None,
            jitter: Literal["full", "equal"] = "full") -> float:
    """Seconds before the next try after `failures` failed ones: base, 2 base, 4 base...
    up to `cap`. With `rng`, jittered so that many messages failing at once do not all
    come back in the same instant: `full`, anywhere up to that (calls to an agency,
    which a burst may be what brought down); `equal`, between half and all of it (an
    outbox, whose messages should still wait their turn)."""
    ceiling = min(cap, base * 2 ** max(0, failures - 1))
    if rng is None:
        return ceiling
    if jitter == "equal":
        return ceiling / 2 + rng.uniform(0, ceiling / 2)
    return rng.uniform(0, ceiling)
