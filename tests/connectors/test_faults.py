"""Every injected fault against every connector: the sync completes, or stops cleanly
and resumes, and staging ends exactly as after a clean run."""

import asyncio

import pytest

from hub.connectors.dtks import DtksConnector
from hub.connectors.http import BreakerState, CircuitBreaker, RetryPolicy
from hub.connectors.runner import sync_connector, sync_stream
from hub.db.engine import create_engine
from hub.db.migrate import upgrade
from hub.simulators.base import Faults
from hub.simulators.dtks import DtksSimulator
from tests.connectors.agencies import AGENCIES
from tests.connectors.conftest import staged

KEY = "k"
FAST = RetryPolicy(attempts=8, base_delay=0.005, max_delay=0.05, timeout=2.0)
_clean_runs: dict[tuple[str, str], dict] = {}


def dtks(url, retry=FAST, **kwargs):
    return DtksConnector(url, KEY, page_size=50, retry=retry, **kwargs)


async def snapshot(engine, agency):
    return {source: await staged(engine, source) for source in agency.sources}


@pytest.fixture
async def expected(serve, databases, backend, agency_population, agency):
    """Staging after an uninterrupted, fault-free run: what every faulty run must equal
    (computed once per agency and backend)."""
    if (agency.name, backend) not in _clean_runs:
        url = databases.url(backend)
        await asyncio.to_thread(upgrade, url)
        engine = create_engine(url)
        async with serve(agency.simulator(agency_population, None)) as base:
            await sync_connector(engine, agency.connector(base, retry=FAST))
        _clean_runs[agency.name, backend] = await snapshot(engine, agency)
        await engine.dispose()
    return _clean_runs[agency.name, backend]


# Scheduled faults happen on every agency, however small its feed; the random mix shows
# the same on a realistic pattern for the agency with the largest feed.
FAULTS = {
    "5xx": Faults(error_every=3),
    "429-bursts": Faults(throttle_every=4, throttle_burst=2, retry_after_s=0.01),
    "dropped": Faults(drop_every=3),
    "truncated-json": Faults(truncate_every=2),
    "mixed": Faults(latency_ms=2, error_every=5, drop_every=7, truncate_every=4,
                    throttle_every=9, retry_after_s=0.01),
}


@pytest.mark.parametrize("agency", AGENCIES, ids=str)
@pytest.mark.parametrize("faults", FAULTS.values(), ids=FAULTS.keys())
async def test_sync_survives_faults_with_nothing_lost_or_duplicated(
    serve, staging, agency_population, expected, agency, faults
):
    simulator = agency.simulator(agency_population, faults)
    async with serve(simulator) as base:
        results = await sync_connector(staging, agency.connector(base, retry=FAST))
    assert {r.status for r in results} == {"SUCCEEDED"}, [r.error for r in results]
    injected = sum(simulator.counts[k] for k in ("errors", "throttled", "dropped", "truncated"))
    assert injected > 0, "the faults really happened"
    assert await snapshot(staging, agency) == expected


async def test_random_faults_on_a_large_feed(serve, staging, agency_population, backend,
                                            databases):
    agency = AGENCIES[0]  # DTKS: the most records
    simulator = agency.simulator(agency_population, Faults(
        latency_ms=2, error_rate=0.15, drop_rate=0.1, truncate_rate=0.1, seed=5))
    async with serve(simulator) as base:
        results = await sync_connector(staging, agency.connector(base, retry=FAST))
    assert {r.status for r in results} == {"SUCCEEDED"}
    assert min(simulator.counts[k] for k in ("errors", "dropped", "truncated")) > 0
    clean = agency.simulator(agency_population, None)
    url = databases.url(backend)
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url)
    async with serve(clean) as base:
        await sync_connector(engine, agency.connector(base, retry=FAST))
    try:
        assert await snapshot(staging, agency) == await snapshot(engine, agency)
    finally:
        await engine.dispose()


@pytest.mark.parametrize("agency", AGENCIES, ids=str)
async def test_bad_records_are_quarantined_with_a_reason(serve, staging, agency_population,
                                                         expected, agency):
    simulator = agency.simulator(agency_population, Faults(bad_record_every=3))
    async with serve(simulator) as base:
        await sync_connector(staging, agency.connector(base, retry=FAST))
        rerun = await sync_connector(staging, agency.connector(base, retry=FAST), full=True)
    quarantined = 0
    for source, records in expected.items():
        stored = await staged(staging, source)
        assert set(stored) == set(records)  # nothing dropped
        reasons = [reason for _, reason in stored.values() if reason]
        assert all(agency.broken_field in reason or "Desil" in reason for reason in reasons)
        quarantined += len(reasons)
    assert quarantined > 0
    # A full re-read of the same (broken) data writes nothing new.
    assert all(r.counts.new == 0 and r.counts.changed == 0 for r in rerun)


@pytest.mark.parametrize("agency", AGENCIES[:4], ids=str)  # Baznas has too few records
async def test_a_sync_killed_half_way_resumes_to_the_same_staging(
    serve, staging, agency_population, expected, agency
):
    async with serve(agency.simulator(agency_population, None)) as base:
        connector_ = agency.connector(base, retry=FAST)
        stream = connector_.streams[-1]
        async with connector_.client() as client:
            partial = await sync_stream(staging, connector_, stream, client, max_pages=2)
        assert partial.counts.fetched > 0
        assert partial.cursor_after is not None
        await sync_connector(staging, connector_)
    assert await snapshot(staging, agency) == expected


@pytest.mark.parametrize("agency", [AGENCIES[0]], ids=str)
async def test_an_agency_that_stays_down_fails_the_run_cleanly_then_resumes(
    serve, staging, agency_population, expected, agency
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
    assert await snapshot(staging, agency) == expected


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
