"""BPS ↔ Kemendagri region codes.

Legacy DTKS exports carry BPS (Statistics Indonesia) codes: a 3-digit kecamatan and a
3-digit desa (`3314 010 001`), where Kemendagri writes `33.14.01.1001`. The two agree on
province and regency but number districts and villages independently, so the mapping is
a table. BPS numbers a regency's kecamatan 010, 020, ... and its villages 001, 002, ... in
its own order; for the demo districts the table here follows the catalogue's order and is
illustrative. A deployment loads the official BPS–Kemendagri bridging table instead.
"""

from __future__ import annotations

from functools import lru_cache

from hub.domain.regions import catalog


class UnknownBpsCode(ValueError):
    """A BPS code the crosswalk has no Kemendagri code for."""


@lru_cache(maxsize=1)
def _tables() -> tuple[dict[str, str], dict[str, str]]:
    bps_to_kemendagri: dict[str, str] = {}
    regions = catalog()
    for regency in regions.regencies():
        prefix = regency.code.replace(".", "")
        for k, district_code in enumerate(regency.children, 1):
            district = regions.get(district_code)
            assert district is not None
            for v, village_code in enumerate(district.children, 1):
                bps_to_kemendagri[f"{prefix}{k * 10:03d}{v:03d}"] = village_code
    return bps_to_kemendagri, {v: k for k, v in bps_to_kemendagri.items()}


def kemendagri_village(bps_village: str) -> str:
    """`3314010001` → `33.14.01.1001`."""
    code = bps_village.strip()
    try:
        return _tables()[0][code]
    except KeyError:
        raise UnknownBpsCode(f"BPS village code {code!r} is not in the crosswalk") from None


def bps_village(kemendagri_village_code: str) -> str:
    """`33.14.01.1001` → `3314010001`."""
    try:
        return _tables()[1][kemendagri_village_code]
    except KeyError:
        raise UnknownBpsCode(
            f"village {kemendagri_village_code!r} has no BPS code in the crosswalk"
        ) from None
