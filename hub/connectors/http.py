"""The HTTP behaviour every connector shares: agencies' systems are slow, flaky and
rate-limited, and the hub must neither lose data to them nor hammer them when they fail.

One `AgencyClient` per connector owns one `aiohttp.ClientSession` and gives each request
a timeout, retries with exponential backoff and full jitter on 5xx, timeouts and dropped
connections, `429` honoured with its `Retry-After`, a concurrency cap, a request-rate
limit, and a circuit breaker that stops calling a system that keeps failing.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any

import aiohttp

from hub import jsontext
from hub.backoff import backoff


class ConnectorError(RuntimeError):
    """A failure the sync cannot work around; the message names the connector."""

    def __init__(self, connector: str, message: str) -> None:
        super().__init__(f"connector {connector}: {message}")
        self.connector = connector


class AuthError(ConnectorError):
    """The agency refused our credentials: retrying will not help."""


class CircuitOpenError(ConnectorError):
    """The breaker is open: the agency failed repeatedly and is given time to recover."""


class BadResponse(ConnectorError):
    """The agency answered, but not with what its API promises (truncated JSON, ...)."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_delay: float = 0.2      # seconds, doubled per attempt
    max_delay: float = 10.0
    max_retry_after: float = 60.0
    max_throttles: int = 50      # 429 answers tolerated per request
    timeout: float = 30.0        # per request, whole round trip

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full jitter, so many clients retrying at once do not hit the agency in
        lockstep; `attempt` counts from 0."""
        return backoff(attempt + 1, self.base_delay, self.max_delay, rng)


class BreakerState(StrEnum):
    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"


@dataclass
class CircuitBreaker:
    """Opens after `threshold` consecutive failed requests (each after its retries);
    after `cooldown` seconds one trial request may pass (half-open)."""

    threshold: int = 5
    cooldown: float = 30.0
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    opened_at: float | None = None

    @property
    def state(self) -> BreakerState:
        if self.opened_at is None:
            return BreakerState.CLOSED
        if self.clock() - self.opened_at >= self.cooldown:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def allow(self) -> bool:
        return self.state is not BreakerState.OPEN

    def record_success(self) -> None:
        self.failures = 0
        self.opened_at = None

    def record_failure(self) -> None:
        self.failures += 1
        if self.state is BreakerState.HALF_OPEN or self.failures >= self.threshold:
            self.opened_at = self.clock()


@dataclass
class Pacer:
    """At most `per_second` requests started per second to one agency: outbound pacing
    (the inbound limit on our own clients is `hub.access.ratelimit`)."""

    per_second: float | None = None
    _next_slot: float = 0.0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def wait(self) -> None:
        if not self.per_second:
            return
        async with self._lock:
            now = time.monotonic()
            slot = max(now, self._next_slot)
            self._next_slot = slot + 1.0 / self.per_second
        if slot > now:
            await asyncio.sleep(slot - now)


RETRYABLE_STATUS = frozenset({500, 502, 503, 504})


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    data: Any = None  # the parsed JSON body, when the request expected JSON


class AgencyClient:
    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        concurrency: int = 4,
        rate_per_second: float | None = None,
        seed: int | None = None,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.breaker = breaker or CircuitBreaker()
        self.pacer = Pacer(rate_per_second)
        self._slots = asyncio.Semaphore(concurrency)
        self._rng = random.Random(seed)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> AgencyClient:
        timeout = aiohttp.ClientTimeout(total=self.retry.timeout)
        self._session = aiohttp.ClientSession(timeout=timeout, raise_for_status=False)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: Callable[[], Awaitable[dict[str, str]]] | None = None,
        on_unauthorized: Callable[[], Awaitable[bool]] | None = None,
        expect_json: bool = False,
        **kwargs: Any,
    ) -> Response:
        """Send one request with retries. `headers` is called per attempt (signatures and
        tokens expire); `on_unauthorized` may refresh credentials once after a 401. With
        `expect_json`, a 2xx body that is not JSON (cut off on the way) is retried."""
        if self._session is None:
            raise RuntimeError("use `async with AgencyClient(...)`")
        refreshed = False
        failures = throttles = 0
        last_problem = "no attempt made"
        while failures < self.retry.attempts:
            if not self.breaker.allow():
                raise CircuitOpenError(
                    self.name,
                    f"circuit open after {self.breaker.failures} consecutive failures; "
                    f"retrying in {self.breaker.cooldown:.0f}s",
                )
            await self.pacer.wait()
            try:
                async with self._slots:
                    extra = await headers() if headers else {}
                    async with self._session.request(
                        method, self.base_url + path, headers=extra, **kwargs
                    ) as raw:
                        response = Response(raw.status, dict(raw.headers), await raw.read())
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError,
                    TimeoutError) as exc:
                last_problem = f"{type(exc).__name__}: {exc}".rstrip(": ")
            else:
                if response.status == 401 and on_unauthorized and not refreshed:
                    refreshed = await on_unauthorized()
                    if refreshed:
                        continue
                if response.status in (401, 403):
                    self.breaker.record_success()  # the system is up; we are refused
                    raise AuthError(
                        self.name, f"{method} {path} refused ({response.status}): "
                        f"{response.body[:200].decode(errors='replace')}"
                    )
                if response.status == 429 and throttles < self.retry.max_throttles:
                    # Being paced is not failing: it does not use up the retry budget.
                    throttles += 1
                    delay = self._retry_after(response)
                    await asyncio.sleep(
                        delay if delay is not None else self.retry.backoff(throttles, self._rng)
                    )
                    continue
                if 400 <= response.status < 500 and response.status != 429:
                    self.breaker.record_success()  # the system is up; our request is wrong
                    raise ConnectorError(
                        self.name, f"{method} {path} answered {response.status}: "
                        f"{response.body[:200].decode(errors='replace')}"
                    )
                if response.status not in RETRYABLE_STATUS and response.status != 429:
                    if not (expect_json and response.status < 300):
                        self.breaker.record_success()
                        return response
                    try:
                        response.data = jsontext.loads(response.body)
                    except ValueError as exc:
                        last_problem = f"response is not valid JSON ({exc})"
                    else:
                        self.breaker.record_success()
                        return response
                else:
                    last_problem = f"HTTP {response.status}"
            failures += 1
            if failures < self.retry.attempts:
                await asyncio.sleep(self.retry.backoff(failures, self._rng))
        self.breaker.record_failure()
        raise ConnectorError(
            self.name,
            f"{method} {path} failed after {self.retry.attempts} attempts: {last_problem}",
        )

    def _retry_after(self, response: Response) -> float | None:
        value = response.headers.get("Retry-After")
        if value is None:
            return None
        try:
            seconds = float(value)
        except ValueError:
            try:
                seconds = parsedate_to_datetime(value).timestamp() - time.time()
            except (TypeError, ValueError):
                return None
        return max(0.0, min(seconds, self.retry.max_retry_after))
