"""Every injected fault: the sync completes, or stops cleanly and resumes, and staging
ends exactly as after a clean run. Run against DTKS; the fault machinery is shared by
every simulator and the retry machinery by every connector."""

import asyncio

import pytest

from hub.connectors.dtks import DtksConnector
from hub.connectors.http import BreakerState, CircuitBreaker, RetryPolicy
from hub.connectors.runner import sync_connector, sync_stream
from hub.db.engine import create_engine
from hub.db.migrate import upgrade
from hub.simulators.base import Faults
from hub.simulators.dtks import DtksSimulator
from tests.connectors.conftest import staged

KEY = "k"
FAST = RetryPolicy(attempts=8, base_delay=0.005, max_delay=0.05, timeout=2.0)


def dtks(url, retry=FAST, **kwargs):
    return DtksConnector(url, KEY, page_size=50, retry=retry, **kwargs)


async def clean_staging(serve, databases, backend, population):
    """Staging after an uninterrupted, fault-free run: what every faulty run must equal."""
    url = databases.url(backend)
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url)
    async with serve(DtksSimulator(population, api_key=KEY)) as base:
        await sync_connector(engine, dtks(base))
    result = {s: await staged(engine, s) for s in ("dtks_household", "dtks_individual")}
    await engine.dispose()
    return result


@pytest.fixture
async def expected(serve, databases, backend, agency_population):
    return await clean_staging(serve, databases, backend, agency_population)


@pytest.mark.parametrize(
    "faults",
    [
        Faults(error_rate=0.3, seed=1),
        Faults(throttle_every=4, throttle_burst=2, retry_after_s=0.01, seed=2),
        Faults(drop_rate=0.2, seed=3),
        Faults(truncate_rate=0.3, seed=4),
        Faults(latency_ms=5, error_rate=0.1, drop_rate=0.1, truncate_rate=0.1, seed=5),
    ],
    ids=["5xx", "429-bursts", "dropped", "truncated-json", "mixed"],
)
async def test_sync_survives_faults_with_nothing_lost_or_duplicated(
    serve, staging, agency_population, expected, faults
):
    simulator = DtksSimulator(agency_population, faults, api_key=KEY)
    async with serve(simulator) as base:
        results = await sync_connector(staging, dtks(base))
    assert [r.status for r in results] == ["SUCCEEDED"] * 4
    injected = sum(simulator.counts[k] for k in ("errors", "throttled", "dropped", "truncated"))
    assert injected > 0, "the faults really happened"
    for source, records in expected.items():
        assert await staged(staging, source) == records


async def test_bad_records_are_quarantined_with_a_reason(serve, staging, agency_population,
                                                         expected):
    simulator = DtksSimulator(agency_population, Faults(bad_record_rate=0.05, seed=9),
                              api_key=KEY)
    async with serve(simulator) as base:
        await sync_connector(staging, dtks(base))
        rerun = await sync_connector(staging, dtks(base), full=True)
    stored = await staged(staging, "dtks_individual")
    assert set(stored) == set(expected["dtks_individual"])  # nothing dropped
    reasons = [reason for _, reason in stored.values() if reason]
    assert 0 < len(reasons) < len(stored) * 0.15
    assert all("JnsKel" in reason for reason in reasons)
    # A full re-read of the same (broken) data writes nothing new.
    assert all(r.counts.new == 0 and r.counts.changed == 0 for r in rerun)


async def test_a_sync_killed_half_way_resumes_to_the_same_staging(
    serve, staging, agency_population, expected
):
    async with serve(DtksSimulator(agency_population, api_key=KEY)) as base:
        connector_ = dtks(base)
        stream = connector_.stream("individuals")
        async with connector_.client() as client:
            partial = await sync_stream(staging, connector_, stream, client, max_pages=3)
        assert partial.counts.fetched == 150
        assert len(await staged(staging, "dtks_individual")) == 150
        await sync_connector(staging, connector_)
    for source, records in expected.items():
        assert await staged(staging, source) == records


async def test_an_agency_that_stays_down_fails_the_run_cleanly_then_resumes(
    serve, staging, agency_population, expected
):
    simulator = DtksSimulator(agency_population, api_key=KEY)
    async with serve(simulator) as base:
        connector_ = dtks(base, retry=RetryPolicy(attempts=2, base_delay=0.001))
        async with connector_.client() as client:
            stream = connector_.stream("individuals")
            await sync_stream(staging, connector_, stream, client, max_pages=2)
            simulator.faults = Faults(error_rate=1.0)
            failed = await sync_stream(staging, connector_, stream, client)
        assert failed.status == "FAILED"
        assert "failed after 2 attempts: HTTP 503" in failed.error
        assert failed.cursor_after == failed.cursor_before  # nothing half-written
        simulator.faults = Faults()
        await sync_connector(staging, connector_)
    for source, records in expected.items():
        assert await staged(staging, source) == records


async def test_circuit_breaker_stops_calling_a_dead_agency(serve, staging, agency_population):
    simulator = DtksSimulator(agency_population, Faults(error_rate=1.0), api_key=KEY)
    breaker = CircuitBreaker(threshold=2, cooldown=60)
    async with serve(simulator) as base:
        connector_ = dtks(base, retry=RetryPolicy(attempts=2, base_delay=0.001),
                          breaker=breaker)
        first = await sync_connector(staging, connector_)
        calls_when_opened = simulator.counts["requests"]
        second = await sync_connector(staging, connector_)
    assert breaker.state is BreakerState.OPEN
    assert [r.status for r in first + second] == ["FAILED"] * 8
    assert "circuit open" in second[0].error
    assert simulator.counts["requests"] == calls_when_opened  # no more hammering


def test_breaker_half_opens_after_cooldown_and_closes_on_success():
    now = [0.0]
    breaker = CircuitBreaker(threshold=2, cooldown=10, clock=lambda: now[0])
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()
    now[0] = 10
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()
    breaker.record_failure()  # the trial failed: open again, for a full cooldown
    assert breaker.state is BreakerState.OPEN
    now[0] = 20
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
