"""Runs every agency simulator on 127.0.0.1, each on its own port."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web

from hub.simulators.base import AgencySimulator
from hub.simulators.baznas import BaznasSimulator
from hub.simulators.bpjs import BpjsSimulator
from hub.simulators.dtks import DtksSimulator
from hub.simulators.dukcapil import DukcapilSimulator
from hub.simulators.education import EducationSimulator

SIMULATORS: dict[str, type[AgencySimulator]] = {
    "dtks": DtksSimulator, "dukcapil": DukcapilSimulator, "bpjs": BpjsSimulator,
    "education": EducationSimulator, "baznas": BaznasSimulator,
}


@asynccontextmanager
async def running(population: Path, host: str, ports: dict[str, int]
                  ) -> AsyncIterator[dict[str, str]]:
    """Serve every simulator named in `ports`; yields name → base URL."""
    runners: list[web.AppRunner] = []
    urls: dict[str, str] = {}
    try:
        for name, port in ports.items():
            simulator = SIMULATORS[name](population)
            runner = web.AppRunner(simulator.app(), access_log=None)
            await runner.setup()
            await web.TCPSite(runner, host, port).start()
            runners.append(runner)
            urls[name] = f"http://{host}:{port}"
        yield urls
    finally:
        for runner in runners:
            await runner.cleanup()


class BackgroundSimulators:
    """The simulators on their own event loop in a thread, so the demo can serve the hub
    (uvicorn, blocking) while the agencies keep answering."""

    def __init__(self, population: Path, host: str, ports: dict[str, int]) -> None:
        self.population, self.host, self.ports = population, host, ports
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._error: BaseException | None = None
        self.urls: dict[str, str] = {}
        self._thread = threading.Thread(target=self._run, name="simulators", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(timeout=120)
        if self._error:
            raise self._error

    def stop(self) -> None:
        if self._loop and self._stop:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            async with running(self.population, self.host, self.ports) as urls:
                self.urls = urls
                self._ready.set()
                await self._stop.wait()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
