"""Roles and region scope: the two facts every authorisation decision starts from."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, false, or_

from hub.domain.regions import code_range


class Role(StrEnum):
    """What kind of party a client is; see the access table in docs/access.md for what each
    may read and do."""

    NATIONAL = "NATIONAL"  # Kemensos: everything, every region, read-mostly
    DISTRICT = "DISTRICT"  # Dinas Sosial of a regency: read/write in its region
    FACILITATOR = "FACILITATOR"  # village facilitator / Puskesos: its villages
    AGENCY = "AGENCY"  # BPJS, education, Dukcapil, Baznas: its own programme
    PARTNER = "PARTNER"  # Baznas or CSR: eligibility checks only


def _within(code: str, region: str) -> bool:
    return code == region or code.startswith(region + ".")


@lru_cache(maxsize=65_536)
def _covered(regions: tuple[str, ...], code: str) -> bool:
    """Whether `code` lies under one of `regions`, remembered: the guard asks it of
    every object a response holds (10,000 answers of a batch), for a few hundred
    villages."""
    return any(_within(code, region) for region in regions)


@dataclass(frozen=True, slots=True)
class RegionScope:
    """The regions a client may see. Row-level: a person, household, finding or
    statistic is visible only when its region code lies under one of these."""

    regions: tuple[str, ...] = ()
    everywhere: bool = False

    def allows(self, code: str | None) -> bool:
        if self.everywhere:
            return True
        return code is not None and _covered(self.regions, code)

    def condition(self, column: Any) -> Any | None:
        """A SQL filter on a region-code column: index range scans, OR-ed; None when
        nothing needs filtering."""
        if self.everywhere:
            return None
        if not self.regions:
            return false()
        ranges = [and_(column >= low, column < high)
                  for low, high in map(code_range, self.regions)]
        return ranges[0] if len(ranges) == 1 else or_(*ranges)

    def within(self, code: str) -> tuple[str, ...]:
        """The parts of region `code` this scope covers: `code` itself when the scope
        holds it whole, the scope's regions under it otherwise (statistics of a
        province asked by a district are the district's own)."""
        if self.allows(code):
            return (code,)
        return tuple(region for region in self.regions if _within(region, code))


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of one request."""

    client_id: int
    name: str
    role: Role
    regions: tuple[str, ...]
    legal_basis: str
    purpose: str
    agency: str | None = None
    rate_per_minute: int | None = None
    # The signed-in officer acting for this client (the console); None for an API call.
    officer: str | None = None
    scope: RegionScope = field(init=False)

    def __post_init__(self) -> None:
        scope = RegionScope(self.regions, everywhere=self.role is Role.NATIONAL)
        object.__setattr__(self, "scope", scope)

    def owns_source(self, source: str | None) -> bool:
        """An AGENCY client's own records: its connector's sources (bpjs,
        dtks_individual -> dtks, ...)."""
        return source is not None and source.split("_", 1)[0] == self.agency
