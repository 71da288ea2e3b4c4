"""The pacing rules of the agency client, checked without waiting: sleeps are recorded
and the clock stands still."""

import random

import pytest

from hub.connectors import http
from hub.connectors.http import Pacer, RetryPolicy


async def test_rate_limiter_spaces_requests(monkeypatch):
    slept: list[float] = []

    async def record(delay):
        slept.append(delay)

    monkeypatch.setattr(http.time, "monotonic", lambda: 100.0)
    monkeypatch.setattr(http.asyncio, "sleep", record)
    pacer = Pacer(per_second=20)
    for _ in range(5):
        await pacer.wait()
    # The first goes at once; each next one 1/20 s after the previous slot.
    assert slept == pytest.approx([0.05, 0.10, 0.15, 0.20])


async def test_no_rate_limit_never_sleeps(monkeypatch):
    async def fail(_):
        raise AssertionError("should not sleep")

    monkeypatch.setattr(http.asyncio, "sleep", fail)
    pacer = Pacer(per_second=None)
    for _ in range(3):
        await pacer.wait()


def test_backoff_is_jittered_and_capped():
    policy = RetryPolicy(base_delay=0.2, max_delay=3.0)
    rng = random.Random(7)
    for attempt in range(10):
        cap = min(3.0, 0.2 * 2**attempt)
        delays = [policy.backoff(attempt, rng) for _ in range(200)]
        assert all(0 <= d <= cap for d in delays)
        assert max(delays) > cap * 0.8  # full jitter reaches close to the cap
        assert len(set(delays)) > 100   # and is spread, not lockstep
