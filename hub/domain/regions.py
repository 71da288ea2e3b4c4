"""Kemendagri region codes: province `33`, regency `33.14`, district `33.14.01`,
village `33.14.01.2001`.

NIKs and KK numbers carry the first three levels without dots (`331401`), agency exports
often carry all four compact (`3314012001`); the hub stores the dotted form everywhere so
a prefix of a code is the code of its parent.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from importlib import resources


class RegionLevel(StrEnum):
    PROVINCE = "PROVINCE"
    REGENCY = "REGENCY"
    DISTRICT = "DISTRICT"
    VILLAGE = "VILLAGE"


_DOTTED = re.compile(r"^\d{2}(\.\d{2}(\.\d{2}(\.\d{4})?)?)?$")
_LEVEL_BY_PARTS = {
    1: RegionLevel.PROVINCE,
    2: RegionLevel.REGENCY,
    3: RegionLevel.DISTRICT,
    4: RegionLevel.VILLAGE,
}
_COMPACT_SPLITS = {2: (2,), 4: (2, 2), 6: (2, 2, 2), 10: (2, 2, 2, 4)}


class InvalidRegionCode(ValueError):
    """A string that is not a Kemendagri region code, with the reason."""


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    name: str
    level: RegionLevel
    parent_code: str | None
    culture: str | None = None
    children: tuple[str, ...] = field(default=())


def normalize_region_code(value: str) -> str:
    """Accept dotted (`33.14.01`) or compact (`331401`) codes; return the dotted form."""
    text = value.strip()
    if text.isdigit() and len(text) in _COMPACT_SPLITS:
        parts, pos = [], 0
        for width in _COMPACT_SPLITS[len(text)]:
            parts.append(text[pos : pos + width])
            pos += width
        text = ".".join(parts)
    if not _DOTTED.match(text):
        raise InvalidRegionCode(
            f"{value!r} is not a region code: expected 33, 33.14, 33.14.01 or 33.14.01.2001"
        )
    if any(int(part) == 0 for part in text.split(".")):
        raise InvalidRegionCode(f"{value!r} is not a region code: no part may be all zeros")
    return text


def level_of(code: str) -> RegionLevel:
    return _LEVEL_BY_PARTS[code.count(".") + 1]


def parent_of(code: str) -> str | None:
    head, dot, _ = code.rpartition(".")
    return head if dot else None


def code_range(code: str) -> tuple[str, str]:
    """Half-open string range [low, high) holding `code` and all codes below it.

    A range, unlike LIKE 'x%', uses a plain B-tree index on both SQLite and PostgreSQL.
    """
    return code, code + "/"  # '/' sorts right after '.', the separator below it


@dataclass(frozen=True, slots=True)
class _ProvinceRule:
    name: str
    max_kabupaten: int
    max_kota: int


@dataclass(frozen=True)
class RegionCatalog:
    """The known region tree: all provinces with their regency numbering, and full
    regency/district/village detail for the districts the hub is deployed in."""

    provinces: dict[str, _ProvinceRule]
    regions: dict[str, Region]

    def get(self, code: str) -> Region | None:
        return self.regions.get(code)

    def regency_exists(self, province: str, regency: str) -> bool:
        """Kemendagri numbers kabupaten 01.. and kota 71..; codes retired by later splits
        stay valid because NIKs issued under them stay valid for life."""
        rule = self.provinces.get(province)
        if rule is None or not regency.isdigit():
            return False
        number = int(regency)
        return 1 <= number <= rule.max_kabupaten or 71 <= number <= rule.max_kota

    def villages_of(self, code: str) -> list[Region]:
        low, high = code_range(code)
        return [
            r
            for c, r in self.regions.items()
            if low <= c < high and r.level is RegionLevel.VILLAGE
        ]

    def regencies(self) -> list[Region]:
        return [r for r in self.regions.values() if r.level is RegionLevel.REGENCY]


@lru_cache(maxsize=1)
def catalog() -> RegionCatalog:
    raw = json.loads(resources.files("hub.domain").joinpath("data/regions.json").read_text())
    provinces = {
        p["code"]: _ProvinceRule(p["name"], p["max_kabupaten"], p["max_kota"])
        for p in raw["provinces"]
    }
    regions: dict[str, Region] = {}
    for code, rule in provinces.items():
        regions[code] = Region(code, rule.name, RegionLevel.PROVINCE, None)
    for regency in raw["regencies"]:
        culture = regency["culture"]
        province_code = parent_of(regency["code"])
        district_codes = tuple(d["code"] for d in regency["districts"])
        regions[regency["code"]] = Region(
            regency["code"], regency["name"], RegionLevel.REGENCY, province_code, culture,
            district_codes,
        )
        for district in regency["districts"]:
            village_codes = tuple(v["code"] for v in district["villages"])
            regions[district["code"]] = Region(
                district["code"], district["name"], RegionLevel.DISTRICT, regency["code"],
                culture, village_codes,
            )
            for village in district["villages"]:
                regions[village["code"]] = Region(
                    village["code"], village["name"], RegionLevel.VILLAGE, district["code"],
                    culture,
                )
    # Provinces list the regencies we know in detail as their children.
    for code, region in list(regions.items()):
        if region.level is RegionLevel.PROVINCE:
            kids = tuple(
                r.code for r in regions.values()
                if r.level is RegionLevel.REGENCY and r.parent_code == code
            )
            regions[code] = Region(code, region.name, region.level, None, None, kids)
    return RegionCatalog(provinces, regions)


def person_region(household_village: str | None, own_village: str | None,
                  nik: str | None) -> str | None:
    """Where a person counts for access control: their household's village, else the
    village their own records give, else the kecamatan their NIK was issued in (its
    first six digits), so that a person no household holds yet is still in a region."""
    if household_village:
        return household_village
    if own_village:
        return own_village
    if nik and len(nik) == 16 and nik.isdigit() and nik[4:6] != "00":
        return f"{nik[0:2]}.{nik[2:4]}.{nik[4:6]}"
    return None
