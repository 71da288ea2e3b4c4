import gc
import json

import pytest
from sqlalchemy import select

from hub.connectors.dtks import DtksConnector
from hub.connectors.http import AuthError
from hub.connectors.runner import sync_connector, sync_stream
from hub.db.models import SourceRecord
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
    # The export loads everything; the usulan API then finds nothing it does not have.
    assert by_stream["export_individuals"].counts.new == len(individuals)
    # A revised dwelling appears once in the export: one row per IDBDT.
    dwellings = {h["IDBDT"] for h in lines(agency_population, "dtks_household")}
    assert by_stream["export_households"].counts.new == len(dwellings)
    assert by_stream["individuals"].counts.new == 0
    assert by_stream["individuals"].counts.changed == 0
    assert by_stream["individuals"].counts.unchanged == len(individuals)
    stored = await staged(staging, "dtks_individual")
    assert set(stored) == {r["IDARTBDT"] for r in individuals}
    assert set(await staged(staging, "dtks_household")) == dwellings
    # One DTKS household may hold several KKs: staged as the dwelling's latest row.
    async with staging.connect() as connection:
        families = (await connection.execute(
            select(SourceRecord.payload["Jumlah_Keluarga"].as_integer())
            .where(SourceRecord.source == "dtks_household")
        )).scalars().all()
    # SQLAlchemy before 2.1 leaves SQLite's json_extract of a string unconverted.
    assert max(int(f) for f in families) >= 2
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
        # The next export carries the same two changes: already staged, nothing to write.
        exported = await sync_connector(staging, connector(url),
                                        streams=["export_individuals"])
    counts = results[0].counts
    assert (counts.fetched, counts.new, counts.changed) == (2, 1, 1)
    # The next export is a snapshot: the changed row replaced, the new row added.
    assert exported[0].counts.fetched == len(individuals) + 1
    assert (exported[0].counts.new, exported[0].counts.changed) == (0, 0)
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


async def _export_only(staging, url, fmt):
    dtks = DtksConnector(url, KEY, page_size=113, export_format=fmt)
    return await sync_connector(staging, dtks,
                                streams=["export_households", "export_individuals"])


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_bulk_export_maps_bps_codes_and_matches_the_api(serve, staging, databases,
                                                              backend, agency_population,
                                                              fmt):
    async with serve(DtksSimulator(agency_population, api_key=KEY)) as url:
        results = await _export_only(staging, url, fmt)
        assert [r.status for r in results] == ["SUCCEEDED", "SUCCEEDED"]
        # Everything the API would deliver is already there, unchanged.
        api = await sync_connector(staging, connector(url),
                                   streams=["households", "individuals"])
    assert all(r.counts.new == 0 and r.counts.changed == 0 for r in api)
    households = {h["IDBDT"]: h for h in lines(agency_population, "dtks_household")}  # latest
    async with staging.connect() as connection:
        rows = (await connection.execute(
            select(SourceRecord.source_key, SourceRecord.payload, SourceRecord.normalized)
            .where(SourceRecord.source == "dtks_household")
        )).all()
    assert len(rows) == len(households)
    for key, payload, normalized in rows:
        truth = households[key]
        assert len(str(payload["KDKEC"])) == 3  # the export spoke BPS
        assert normalized["village_code"] == ".".join(
            (truth["KDPROP"], truth["KDKAB"], truth["KDKEC"], truth["KDDESA"]))


async def test_unknown_bps_code_is_quarantined(serve, staging, agency_population):
    simulator = DtksSimulator(agency_population, api_key=KEY)
    household = dict(lines(agency_population, "dtks_household")[0], IDBDT="99999999999999")
    simulator.append("households", household)
    # An invented village whose BPS code the crosswalk cannot know.
    simulator.export_rows = _with_bad_bps(simulator.export_rows)
    async with serve(simulator) as url:
        await _export_only(staging, url, "csv")
    stored = await staged(staging, "dtks_household")
    assert "not in the crosswalk" in stored["99999999999999"][1]
    assert sum(1 for _, reason in stored.values() if reason) == 1


def _with_bad_bps(rows_of):
    def rows(kind):
        for row in rows_of(kind):
            if row.get("IDBDT") == "99999999999999":
                row = {**row, "KDDESA": "999"}
            yield row
    return rows


def _export_files(dtks: DtksConnector) -> list:
    workdir = dtks._workdir
    return sorted(workdir.iterdir()) if workdir is not None and workdir.exists() else []


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_export_leaves_no_copy_of_the_registry_behind(serve, staging, agency_population,
                                                            fmt):
    """An export lists every registered person's NIK and name: the downloaded file is
    deleted once read, and the connector's directory goes with the connector."""
    built_only = DtksConnector("http://127.0.0.1:9", KEY)
    assert built_only._workdir is None  # checking a configuration downloads nothing
    dtks = DtksConnector("", KEY, page_size=113, export_format=fmt)
    async with serve(DtksSimulator(agency_population, api_key=KEY)) as url:
        dtks.base_url = url
        results = await sync_connector(staging, dtks,
                                       streams=["export_households", "export_individuals"])
    assert [r.status for r in results] == ["SUCCEEDED", "SUCCEEDED"]
    assert results[1].counts.fetched > 113  # read over several pages of one download
    workdir = dtks._workdir
    assert workdir is not None
    assert workdir.is_dir()
    assert _export_files(dtks) == []
    del dtks, results
    gc.collect()
    assert not workdir.exists()


async def test_an_export_shorter_than_its_manifest_fails_and_is_deleted(
        serve, staging, agency_population):
    simulator = DtksSimulator(agency_population, api_key=KEY)
    rows_of = simulator.export_rows

    def truncated(kind):
        rows = list(rows_of(kind))
        return iter(rows[:-5] if kind == "individuals" else rows)

    simulator.export_rows = truncated
    dtks = DtksConnector("", KEY, page_size=113)
    async with serve(simulator) as url:
        dtks.base_url = url
        [result] = await sync_connector(staging, dtks, streams=["export_individuals"])
    total = len(lines(agency_population, "dtks_individual"))
    assert result.status == "FAILED"
    assert f"ends after {total - 5} rows; its manifest says {total}" in result.error
    assert _export_files(dtks) == []
