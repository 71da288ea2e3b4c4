"""What every agency simulator shares: its feeds, fault injection, and test controls.

Faults are what real agency systems do to an integration: answer slowly, fail with 5xx,
throttle with 429 bursts, drop the connection, send truncated JSON, send records that
break their own schema, expire a token in the middle of a sync. They are set from
configuration or by a test through `POST /_sim/faults`, and drawn from a seeded random
generator, so a failing test fails the same way again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

import aiohttp
from aiohttp import web

from hub.codecs import signing
from hub.simulators.feed import RecordFeed

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Faults:
    latency_ms: float = 0.0
    error_rate: float = 0.0          # share of API requests answered 503
    throttle_every: int = 0          # every n-th API request answered 429 (0: never)
    throttle_burst: int = 1          # ... and the requests right after it too
    retry_after_s: float = 0.05
    drop_rate: float = 0.0           # share of requests whose connection is dropped
    truncate_rate: float = 0.0       # share of JSON answers cut in half
    bad_record_rate: float = 0.0     # share of records broken against the schema
    token_ttl_requests: int = 0      # issued tokens stop working after n uses (0: never)
    # Deterministic schedules (0: off), for tests that must see the fault happen:
    error_every: int = 0             # every n-th API request answered 503
    drop_every: int = 0              # every n-th API request dropped
    truncate_every: int = 0          # every n-th JSON answer cut in half
    bad_record_every: int = 0        # every n-th record broken against the schema
    seed: int = 0

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> Faults:
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; known: {sorted(known)}")
        return cls(**values)


class AgencySimulator:
    """Subclasses add their API routes in `routes()` and say how to break a record."""

    name: ClassVar[str]

    def __init__(self, population: Path, faults: Faults | None = None) -> None:
        self.population = population
        self.faults = faults or Faults()
        self.rng = random.Random(self.faults.seed)
        self.counts: Counter[str] = Counter()
        self._api_requests = 0
        self._throttled_until = 0
        # The agency's desk receiving SLRT referrals (see `_referral`).
        self.webhook_secret = f"{self.name}-webhook-secret"
        self.referrals: dict[str, dict[str, Any]] = {}
        self.answer: str | None = None  # ACCEPTED: call the hub back on each referral
        self._callbacks: set[asyncio.Task[None]] = set()

    def feed(self, source: str) -> RecordFeed:
        path = self.population / "agencies" / f"{source}.jsonl"
        return RecordFeed(path if path.exists() else None)

    # -- subclasses ---------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        raise NotImplementedError

    def break_record(self, record: dict[str, Any]) -> dict[str, Any]:
        """A copy of the record that violates the agency's schema."""
        broken = dict(record)
        first = next(iter(broken))
        broken[first] = {"unexpected": [first]}
        return broken

    def append(self, source: str, record: dict[str, Any]) -> int:
        raise NotImplementedError(f"{self.name} takes no appended records")

    # -- serving ------------------------------------------------------------------------

    def maybe_broken(self, sequence: int, record: dict[str, Any]) -> dict[str, Any]:
        """Whether a record is broken depends on the record, not the request, so every
        read of it gives the same answer and staging stays comparable across runs."""
        every = self.faults.bad_record_every
        if every and sequence % every == 0:
            return self.break_record(record)
        rate = self.faults.bad_record_rate
        if not rate:
            return record
        digest = hashlib.sha256(f"{self.faults.seed}:{self.name}:{sequence}".encode()).digest()
        if int.from_bytes(digest[:4], "big") / 2**32 < rate:
            return self.break_record(record)
        return record

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._fault_middleware])
        app.add_routes(self.routes())
        app.add_routes([
            web.post("/slrt/referrals", self._referral),
            web.get("/_sim/referrals", self._received),
            web.post("/_sim/referrals/answer", self._set_answer),
            web.post("/_sim/faults", self._set_faults),
            web.get("/_sim/stats", self._stats),
            web.post("/_sim/append/{source}", self._append),
        ])
        return app

    @web.middleware
    async def _fault_middleware(self, request: web.Request, handler: Handler
                                ) -> web.StreamResponse:
        if request.path.startswith("/_sim/"):
            return await handler(request)
        self.counts["requests"] += 1
        self._api_requests += 1
        faults = self.faults
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if faults.throttle_every and (
            self._api_requests % faults.throttle_every == 0
            or self._api_requests < self._throttled_until
        ):
            if self._api_requests % faults.throttle_every == 0:
                self._throttled_until = self._api_requests + faults.throttle_burst
            self.counts["throttled"] += 1
            return web.json_response(
                {"message": "Too Many Requests"}, status=429,
                headers={"Retry-After": f"{faults.retry_after_s:g}"},
            )
        nth = self._api_requests
        if self.rng.random() < faults.error_rate or _every(faults.error_every, nth):
            self.counts["errors"] += 1
            return web.json_response({"message": "Service Unavailable"}, status=503)
        if self.rng.random() < faults.drop_rate or _every(faults.drop_every, nth):
            self.counts["dropped"] += 1
            if request.transport is not None:
                request.transport.close()
            raise ConnectionResetError("simulated dropped connection")
        response = await handler(request)
        if (
            isinstance(response, web.Response)
            and response.body is not None
            and response.content_type == "application/json"
            and (self.rng.random() < faults.truncate_rate
                 or _every(faults.truncate_every, nth))
        ):
            self.counts["truncated"] += 1
            body = bytes(response.body)
            response.body = body[: len(body) // 2]
        return response

    async def _referral(self, request: web.Request) -> web.Response:
        """The agency's webhook: checks the hub's signature, keeps each delivery once
        (a retry of one already received is acknowledged and dropped)."""
        body = await request.read()
        problem = signing.problem(self.webhook_secret, request.headers.get("X-SLRT-Timestamp"),
                                  request.headers.get("X-SLRT-Signature"), body, time.time())
        if problem:
            self.counts["referrals_refused"] += 1
            return web.json_response({"error": problem}, status=401)
        delivery = request.headers.get("X-SLRT-Delivery", "")
        if delivery in self.referrals:
            self.counts["referral_duplicates"] += 1
            return web.json_response({"received": delivery, "duplicate": True})
        message = json.loads(body)
        self.referrals[delivery] = message
        self.counts["referrals_received"] += 1
        if self.answer:
            task = asyncio.create_task(self._call_back(message, self.answer))
            self._callbacks.add(task)
            task.add_done_callback(self._callbacks.discard)
        return web.json_response({"received": delivery})

    async def _call_back(self, message: dict[str, Any], status: str) -> None:
        """Answer the hub as the agency's desk would, through its signed callback."""
        body = json.dumps({"referral_id": message["referral_id"], "status": status,
                           "officer": f"{self.name} desk (simulated)"}).encode()
        headers = {"Content-Type": "application/json",
                   **signing.headers(self.webhook_secret, int(time.time()), body)}
        try:
            async with aiohttp.ClientSession() as session, session.post(
                    message["callback_url"], data=body, headers=headers) as response:
                self.counts[f"callbacks_{response.status}"] += 1
        except aiohttp.ClientError:
            self.counts["callbacks_failed"] += 1

    async def _received(self, _: web.Request) -> web.Response:
        return web.json_response(list(self.referrals.values()))

    async def _set_answer(self, request: web.Request) -> web.Response:
        self.answer = (await request.json()).get("status")
        return web.json_response({"answer": self.answer})

    async def _set_faults(self, request: web.Request) -> web.Response:
        try:
            self.faults = Faults.from_mapping(await request.json())
        except (ValueError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        self.rng = random.Random(self.faults.seed)
        self._api_requests = 0
        self._throttled_until = 0
        return web.json_response(asdict(self.faults))

    async def _stats(self, _: web.Request) -> web.Response:
        return web.json_response(dict(self.counts))

    async def _append(self, request: web.Request) -> web.Response:
        record = await request.json()
        try:
            sequence = self.append(request.match_info["source"], record)
        except (KeyError, NotImplementedError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"sequence": sequence})


def _every(period: int, nth: int) -> bool:
    return bool(period) and nth % period == 0


def json_page(records: list[dict[str, Any]], **extra: Any) -> web.Response:
    return web.Response(
        body=json.dumps({**extra, "data": records}, ensure_ascii=False).encode(),
        content_type="application/json",
    )
