"""The production layout of docs/deploy.md, started on this machine as processes (not
containers): one PostgreSQL, two `slrt-hub serve` replicas without the scheduler and
two `slrt-hub schedule` workers. Both replicas answer, are ready, and agree on who
leads; exactly one worker leads; when it stops, the other takes over at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import ExitStack

import pytest

from tests.test_live_server import create_client, serving


def _get(url: str, key: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers={"authorization": f"Bearer {key}"}
                                     if key else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as refused:
        return refused.code, json.load(refused)


def _leader(base: str) -> str | None:
    status, body = _get(f"{base}/readyz")
    assert status == 200, body
    leader = body["scheduler_leader"]
    return leader["holder"] if leader else None


def _wait(condition, seconds: float = 40.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError("not within the time")


@pytest.mark.parametrize("backend", ["postgresql"])
def test_two_replicas_and_two_schedulers_on_one_postgresql(
        backend: str, empty_database_url: str) -> None:
    env = {**os.environ, "HUB_DATABASE__URL": empty_database_url,
           "HUB_SCHEDULE__ENABLED": "false",  # the replicas serve; the workers schedule
           "HUB_SCHEDULE__LEASE_SECONDS": "30", "HUB_SCHEDULE__CONNECTORS": "{}"}
    subprocess.run([sys.executable, "-m", "hub.cli", "db", "upgrade"], env=env, check=True,
                   capture_output=True, timeout=120)
    key = create_client(env, "deploy-check", "--role", "NATIONAL")
    workers = [subprocess.Popen([sys.executable, "-m", "hub.cli", "schedule"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for _ in range(2)]
    try:
        with ExitStack() as replicas:
            bases = [replicas.enter_context(serving(env)) for _ in range(2)]
            for base in bases:
                status, body = _get(f"{base}/graphql?query=%7B__typename%7D", key)
                assert status == 200, body
                assert body["data"] == {"__typename": "Query"}
            leader = _wait(lambda: _leader(bases[0]))
            assert _leader(bases[1]) == leader  # one lead, seen alike by both replicas
            pids = {str(worker.pid): worker for worker in workers}
            assert leader.split(":")[1] in pids  # a worker leads, not a replica
            pids[leader.split(":")[1]].send_signal(signal.SIGTERM)
            follower = _wait(lambda: (holder := _leader(bases[0])) and holder != leader
                             and holder, 20)
            assert follower.split(":")[1] in pids
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
            worker.wait(timeout=10)
