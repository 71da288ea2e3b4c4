"""Per-client rate limits: a token bucket per client, refilled continuously.

In process memory: each replica enforces the limit on the requests it serves, which
bounds a client at (replicas x limit) and costs no round trip. A burst of up to a
minute's allowance is let through; beyond it the client waits for the refill.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._buckets: dict[int | str, _Bucket] = {}

    def take(self, client: int | str, per_minute: int) -> float | None:
        """Spend one request; None when allowed, else the seconds until it would be."""
        now = self.clock()
        rate = per_minute / 60.0
        bucket = self._buckets.get(client)
        if bucket is None:
            bucket = self._buckets[client] = _Bucket(float(per_minute), now)
        else:
            bucket.tokens = min(float(per_minute), bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return (1.0 - bucket.tokens) / rate
