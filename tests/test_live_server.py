"""The real server process on 127.0.0.1: `slrt-hub serve`, real sockets, and the
GraphQL-over-HTTP audit suite of the npm package graphql-http run against it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.pg_server import free_port

AUDIT_DIR = Path(__file__).parent / "http_audit"


def create_client(env: dict[str, str], name: str, *options: str) -> str:
    """Registers a client through the CLI, as an operator would; returns its key."""
    completed = subprocess.run(
        [sys.executable, "-m", "hub.cli", "clients", "create", name, *options,
         "--legal-basis", "Permensos 15/2018 (SLRT)", "--purpose", "live server tests"],
        env={**env, "COLUMNS": "200"}, capture_output=True, text=True, timeout=60, check=True,
    )
    return completed.stdout.strip().splitlines()[-1]


@contextmanager
def serving(env: dict[str, str]) -> Iterator[str]:
    """`slrt-hub serve` as a process on a free port, until the block ends; its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "serve", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    output = process.stdout.read().decode() if process.stdout else ""
                    pytest.fail(f"server did not start: {output}")
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_graphql_over_http_audit_passes_without_warnings(live_server):
    base, key = live_server
    node = shutil.which("node")
    assert node, "Node.js is required for the GraphQL-over-HTTP audit"
    assert (AUDIT_DIR / "node_modules" / "graphql-http").is_dir(), (
        "run `npm ci --prefix tests/http_audit` (make test does)"
    )
    completed = subprocess.run(
        [node, str(AUDIT_DIR / "audit.mjs"), f"{base}/graphql"],
        capture_output=True, text=True, timeout=120, check=True,
        env={**os.environ, "AUDIT_AUTHORIZATION": f"Bearer {key}"},
    )
    results = json.loads(completed.stdout)
    assert len(results) > 50, "the audit suite ran"
    problems = [r for r in results if r["status"] != "ok"]
    assert problems == []


def test_person_query_over_a_real_socket(live_server, small_population):
    base, key = live_server
    first = json.loads((small_population / "persons.jsonl").open().readline())
    request = urllib.request.Request(
        f"{base}/graphql",
        data=json.dumps({"query": f'{{ person(nik: "{first["nik"]}") {{ name }} }}'}).encode(),
        headers={"content-type": "application/json", "authorization": f"Bearer {key}",
                 "accept": "application/graphql-response+json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        assert json.load(response)["data"] == {"person": {"name": first["name"]}}
