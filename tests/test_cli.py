import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from typer.testing import CliRunner

from hub.cli import app
from tests.pg_server import free_ports

runner = CliRunner()


def test_help_explains_every_command():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("demo", "serve", "generate", "load", "db"):
        assert command in result.output
    upgrade = runner.invoke(app, ["db", "upgrade", "--help"])
    assert "migrate" in upgrade.output.lower()
    # Every word of the help renders: brackets are text, not markup to swallow.
    for command, words in (("simulate", "at the ports in [simulators]"),
                           ("serve", "run the sync scheduler ([schedule]")):
        shown = runner.invoke(app, [command, "--help"], terminal_width=200).output
        assert words in " ".join(shown.replace("│", " ").split()), shown


def test_generate_writes_a_population(tmp_path):
    out = tmp_path / "pop"
    result = runner.invoke(
        app, ["generate", "--regency", "52.72", "--households", "30", "--seed", "5",
              "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["households"] == 30
    assert (out / "agencies" / "dukcapil.jsonl").stat().st_size > 0


def test_generate_unknown_regency_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["generate", "--regency", "11.01", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "no village data" in result.output


def test_bad_setting_stops_with_the_key_named(monkeypatch):
    monkeypatch.setenv("HUB_SERVER__PORT", "not-a-port")
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 2
    assert "server.port" in result.output
    assert "HUB_SERVER__PORT" in result.output


def test_db_upgrade_then_load(tmp_path, monkeypatch, small_population):
    monkeypatch.setenv("HUB_DATABASE__URL", f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(app, ["load", str(small_population)])
    assert result.exit_code == 0, result.output
    assert re.search(r"Loaded 400 households", result.output)


def _graphql(url: str, query: str, key: str) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps({"query": query}).encode(),
        headers={"content-type": "application/json", "authorization": f"Bearer {key}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def test_demo_serves_the_example_queries_it_prints(tmp_path):
    port, *agency_ports = free_ports(6)
    env = {
        **os.environ,
        "HUB_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}",
        "HUB_POPULATION__OUT_DIR": str(tmp_path / "population"),
        "HUB_SIMULATORS__PORTS": json.dumps(dict(zip(
            ("dtks", "dukcapil", "bpjs", "education", "baznas"), agency_ports, strict=True
        ))),
        "COLUMNS": "200",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "demo", "--households", "120", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}/graphql"
    printed = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            printed.append(line)
            if line.startswith("}") and sum(seen.startswith("query ") for seen in printed) == 3:
                break
        output = "".join(printed)
        assert url in output
        # The first sync of every simulated agency ran and succeeded, and was reconciled;
        # the demo says so in a line, its tables are for --verbose.
        synced = re.search(r"^Sync: (\d+) of (\d+) streams succeeded; ([\d,]+) records read",
                           output, re.M)
        assert synced, output
        assert synced.group(1) == synced.group(2), output
        assert int(synced.group(2)) >= 6, output
        assert "persons_touched" not in output
        assert re.search(r"pairs for review$", output, re.M), output
        queries = re.findall(r"^query \w+ \{.*?^\}", output, flags=re.S | re.M)
        assert len(queries) == 3, output
        key = re.search(r'"Authorization": "Bearer (slrt_\S+)"', output).group(1)
        # Piped, the demo says each step as it goes, then what it built, in plain lines.
        assert re.search(r"^Syncing dtks \.\.\.$", output, re.M), output
        assert re.search(r"^Syncing dtks done: [\d,]+ in [\d.]+ s$", output, re.M), output
        summary = re.search(r"^Registry: ([\d,]+) persons in ([\d,]+) households; "
                            r"([\d,]+) open findings; [\d,]+ pairs for review$", output,
                            re.M)
        assert summary, output
        assert int(summary.group(1).replace(",", "")) > 300, output
        assert f"{url}#key={key}" in output  # GraphiQL with the key, kept out of the logs
        for _ in range(100):
            try:
                urllib.request.urlopen(url.replace("/graphql", "/healthz"), timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        # Without the key nothing runs.
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(
                url, data=json.dumps({"query": queries[0]}).encode(),
                headers={"content-type": "application/json"}), timeout=10)
        assert refused.value.code == 401
        for query in queries:
            body = _graphql(url, query, key)
            assert "errors" not in body, (query, body)
        person = _graphql(url, queries[0], key)["data"]["person"]
        assert person["name"]
        assert person["household"]["members"]
        assert {e["field"] for e in person["lineage"]} >= {"name", "birthDate"}
        findings = _graphql(url, queries[1], key)["data"]
        assert findings["findingCounts"]
        poorest = _graphql(url, queries[2], key)["data"]
        # Golden households are KKs built from the agencies' records: close to the 120
        # the generator made (a family DTKS alone knows, without a KK, counts apart).
        assert 110 <= poorest["region"]["statistics"]["households"] <= 130
        assert poorest["households"]["edges"]
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_command_that_meets_a_busy_database_says_so_in_a_line(tmp_path):
    """Another process holds SQLite's write lock (a reconciliation does, for its whole
    run): a command that must write exits 4 with one line, not a driver's traceback."""
    import sqlite3

    database = tmp_path / "hub.db"
    env = {**os.environ, "HUB_DATABASE__URL": f"sqlite+aiosqlite:///{database}"}
    command = [sys.executable, "-m", "hub.cli", "clients", "create", "desk", "--role",
               "NATIONAL", "--legal-basis", "Permensos 15/2018", "--purpose", "tests"]
    subprocess.run([sys.executable, "-m", "hub.cli", "db", "upgrade"], env=env, check=True,
                   capture_output=True, timeout=120)
    writer = sqlite3.connect(database, isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")
    try:
        busy = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert busy.returncode == 4, busy.stderr
    assert "the database is busy or unreachable" in busy.stderr
    assert "Traceback" not in busy.stderr + busy.stdout
    assert len(busy.stderr.strip().splitlines()) == 1
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_doctor_says_what_to_fix(tmp_path, monkeypatch):
    """A deployment with no database yet, demo secrets and agencies not answering: each
    is a line with what to do, and the exit code says it is not ready."""
    monkeypatch.setenv("HUB_DATABASE__URL", f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
    for name, port in (("dtks", 9), ("dukcapil", 9), ("bpjs", 9), ("education", 9),
                       ("baznas", 9), ):
        monkeypatch.setenv(f"HUB_CONNECTORS__{name.upper()}__BASE_URL", f"http://127.0.0.1:{port}")
    result = runner.invoke(app, ["doctor"], terminal_width=200)
    assert result.exit_code == 1, result.output
    assert "FAIL database: no database file" in result.output
    assert not (tmp_path / "hub.db").exists()  # the doctor does not create one
    assert "WARN desk.letter_secret" in result.output
    assert "FAIL connector bpjs: http://127.0.0.1:9 does not answer" in result.output

    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    monkeypatch.setenv("HUB_DESK__LETTER_SECRET", "a-real-secret")
    for name in ("dtks", "dukcapil", "bpjs", "education", "baznas"):
        monkeypatch.setenv(f"HUB_CONNECTORS__{name.upper()}__ENABLED", "false")
    result = runner.invoke(app, ["doctor"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "OK   migrations" in result.output
    assert "WARN registry: holds no persons yet" in result.output
    assert "letter_secret" not in result.output


@pytest.mark.parametrize("line", ["[" * 5000 + "]" * 5000, '"not a checkpoint"',
                                  '{"entry": 1}', "{"])
def test_a_checkpoints_file_that_cannot_be_read_is_one_line(tmp_path, line):
    """A damaged or hostile checkpoints file stops verification with its name and the
    reason, before the database is touched, and never as a traceback."""
    marks = tmp_path / "checkpoints.jsonl"
    marks.write_text(line + "\n")
    result = runner.invoke(app, ["audit", "verify", "--checkpoints", str(marks)],
                           terminal_width=400)
    assert result.exit_code == 2, result.output
    assert "cannot read the checkpoints" in result.output
    assert "Traceback" not in result.output
