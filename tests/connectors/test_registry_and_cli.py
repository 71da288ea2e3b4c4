import json

import pytest
from typer.testing import CliRunner

from hub.cli import app
from hub.config import ConnectorSettings, load_settings
from hub.connectors.registry import ConnectorConfigError, build_connector, enabled_connectors
from hub.simulators.serve import BackgroundSimulators
from tests.pg_server import free_ports

NAMES = ("dtks", "dukcapil", "bpjs", "education", "baznas")


def test_every_configured_connector_builds():
    assert [c.name for c in enabled_connectors(load_settings())] == list(NAMES)


def test_missing_credential_names_the_variable_to_set():
    settings = ConnectorSettings(base_url="http://127.0.0.1:1", credentials={"cons_id": "1"})
    with pytest.raises(ConnectorConfigError, match="HUB_CONNECTORS__BPJS__CREDENTIALS__SECRET"):
        build_connector("bpjs", settings)


def test_unknown_connector_is_named():
    with pytest.raises(ConnectorConfigError, match="no connector named kemenag"):
        enabled_connectors(load_settings(), ["kemenag"])


def test_bad_base_url_stops_at_start(monkeypatch):
    monkeypatch.setenv("HUB_CONNECTORS__DTKS__BASE_URL", "ftp://dtks")
    result = CliRunner().invoke(app, ["sync", "dtks"])
    assert result.exit_code == 2
    assert "connectors.dtks.base_url" in result.output


def test_sync_command_against_the_simulators(tmp_path, monkeypatch, agency_population):
    ports = dict(zip(NAMES, free_ports(len(NAMES)), strict=True))
    simulators = BackgroundSimulators(agency_population, "127.0.0.1", ports)
    simulators.start()
    try:
        monkeypatch.setenv("HUB_DATABASE__URL", f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
        for name, url in simulators.urls.items():
            monkeypatch.setenv(f"HUB_CONNECTORS__{name.upper()}__BASE_URL", url)
        monkeypatch.setenv("COLUMNS", "200")
        runner = CliRunner()
        first = runner.invoke(app, ["sync"])
        second = runner.invoke(app, ["sync", "dtks", "bpjs", "--verbose"])
        unknown = runner.invoke(app, ["sync", "kemenag"])
    finally:
        simulators.stop()
    assert first.exit_code == 0, first.output
    manifest = json.loads((agency_population / "manifest.json").read_text())
    assert f"{manifest['counts']['dukcapil']:,}" in first.output
    assert first.output.count("SUCCEEDED") == 8  # four DTKS streams, one per other agency
    assert second.exit_code == 0, second.output
    assert second.output.count("SUCCEEDED") == 5
    # A run's step timings are for whoever tunes the hub: only with --verbose.
    assert "seconds_" not in first.output
    assert "seconds_" in second.output
    assert unknown.exit_code == 2
    assert "no connector named kemenag" in unknown.output
