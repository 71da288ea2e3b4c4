"""The five agencies as test cases: how to start each simulator, build its connector
pointed at it, and which staging sources it fills."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.connectors.base import Connector
from hub.connectors.baznas import BaznasConnector
from hub.connectors.bpjs import BpjsConnector
from hub.connectors.dtks import DtksConnector
from hub.connectors.dukcapil import DukcapilConnector
from hub.connectors.education import EducationConnector
from hub.simulators.base import AgencySimulator, Faults
from hub.simulators.baznas import BaznasSimulator
from hub.simulators.bpjs import BpjsSimulator
from hub.simulators.dtks import DtksSimulator
from hub.simulators.dukcapil import DukcapilSimulator
from hub.simulators.education import EducationSimulator


@dataclass(frozen=True)
class Agency:
    name: str
    simulator: Callable[[Path, Faults | None], AgencySimulator]
    connector: Callable[..., Connector]
    sources: tuple[str, ...]
    broken_field: str  # what the simulator breaks in a bad record

    def __str__(self) -> str:
        return self.name


def _kw(page_size: int, kwargs: dict[str, Any]) -> dict[str, Any]:
    return {"page_size": page_size, **kwargs}


AGENCIES = [
    Agency("dtks", lambda p, f: DtksSimulator(p, f, api_key="k"),
           lambda url, **kw: DtksConnector(url, "k", **_kw(50, kw)),
           ("dtks_household", "dtks_individual"), "JnsKel"),
    Agency("dukcapil", lambda p, f: DukcapilSimulator(p, f),
           lambda url, **kw: DukcapilConnector(url, "DINSOS", "dinsos", "rahasia",
                                               **_kw(60, kw)),
           ("dukcapil",), "TGL_LHR"),
    Agency("bpjs", lambda p, f: BpjsSimulator(p, f),
           lambda url, **kw: BpjsConnector(url, "1234", "bpjs-secret", "user-key",
                                           **_kw(40, kw)),
           ("bpjs",), "statusPeserta"),
    Agency("education", lambda p, f: EducationSimulator(p, f),
           lambda url, **kw: EducationConnector(url, "dinsos", "rahasia", **_kw(25, kw)),
           ("education",), "tingkat_pendidikan_id"),
    Agency("baznas", lambda p, f: BaznasSimulator(p, f, api_key="k"),
           lambda url, **kw: BaznasConnector(url, "k", **_kw(1, kw)),
           ("baznas",), "jumlah_bantuan"),
]
