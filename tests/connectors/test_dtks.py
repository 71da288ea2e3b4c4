import json

import pytest

from hub.connectors.dtks import DtksConnector
from hub.connectors.http import AuthError
from hub.connectors.runner import sync_connector, sync_stream
from hub.simulators.dtks import DtksSimulator
from tests.connectors.conftest import staged

KEY = "test-key"


def lines(population, source):
    path = population / "agencies" / f"{source}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def connector(url, **kwargs):
    dtks = DtksConnector(url, KEY, page_size=97, **kwargs)
    return dtks


async def test_full_sync_stages_every_record_once_and_rerun_writes_nothing(
    serve, staging, agency_population
):
    simulator = DtksSimulator(agency_population, api_key=KEY)
    async with serve(simulator) as url:
        first = await sync_connector(staging, connector(url))
        again = await sync_connector(staging, connector(url))
    individuals = lines(agency_population, "dtks_individual")
    by_stream = {r.stream: r for r in first}
    assert all(r.status == "SUCCEEDED" for r in first + again)
    assert by_stream["individuals"].counts.new == len(individuals)
    assert by_stream["households"].counts.new == len(lines(agency_population, "dtks_household"))
    stored = await staged(staging, "dtks_individual")
    assert set(stored) == {r["IDARTBDT"] for r in individuals}
    # The second run starts from the saved cursor: it fetches and writes nothing.
    assert all(r.counts.fetched == 0 and r.counts.new == 0 for r in again)


async def test_incremental_run_picks_up_only_changes(serve, staging, agency_population):
    simulator = DtksSimulator(agency_population, api_key=KEY)
    individuals = lines(agency_population, "dtks_individual")
    async with serve(simulator) as url:
        await sync_connector(staging, connector(url))
        changed = dict(individuals[3], Nama="Nama Baru")
        simulator.append("individuals", changed)
        simulator.append("individuals", dict(individuals[0], IDARTBDT="NEW000000000001"))
        results = await sync_connector(staging, connector(url), streams=["individuals"])
    counts = results[0].counts
    assert (counts.fetched, counts.new, counts.changed) == (2, 1, 1)
    stored = await staged(staging, "dtks_individual")
    assert len(stored) == len(individuals) + 1


async def test_wrong_api_key_is_an_auth_error_naming_the_connector(serve, staging,
                                                                   agency_population):
    async with serve(DtksSimulator(agency_population, api_key=KEY)) as url:
        dtks = DtksConnector(url, "wrong")
        async with dtks.client() as client:
            result = await sync_stream(staging, dtks, dtks.stream("households"), client)
            with pytest.raises(AuthError, match="connector dtks"):
                await dtks.stream("households").fetch(client, None)
    assert result.status == "FAILED"
    assert "connector dtks" in result.error
    assert "AuthError" in result.error
    assert await staged(staging, "dtks_household") == {}
