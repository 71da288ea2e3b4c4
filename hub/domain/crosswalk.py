"""Other ministries' region codes ↔ Kemendagri's.

BPS.

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


class UnmappedRegionCode(ValueError):
    """A code (BPS, education) the crosswalk has no Kemendagri code for."""


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
        raise UnmappedRegionCode(f"BPS village code {code!r} is not in the crosswalk") from None


def bps_village(kemendagri_village_code: str) -> str:
    """`33.14.01.1001` → `3314010001`."""
    try:
        return _tables()[1][kemendagri_village_code]
    except KeyError:
        raise UnmappedRegionCode(
            f"village {kemendagri_village_code!r} has no BPS code in the crosswalk"
        ) from None


# The education ministry (Kemendikbud, Dapodik `kode_wilayah`) numbers provinces its own
# way: 01 DKI Jakarta, 02 Jawa Barat, 03 Jawa Tengah ... Its regency and district digits
# here follow Kemendagri's for the demo districts (illustrative, as the BPS table is).
EDUCATION_PROVINCE = {
    "31": "01", "32": "02", "33": "03", "34": "04", "35": "05", "11": "06", "12": "07",
    "13": "08", "14": "09", "15": "10", "16": "11", "18": "12", "61": "13", "62": "14",
    "63": "15", "64": "16", "71": "17", "72": "18", "73": "19", "74": "20", "81": "21",
    "51": "22", "52": "23", "53": "24", "91": "25", "17": "26", "82": "27", "36": "28",
    "19": "29", "75": "30", "21": "31", "92": "32", "76": "34", "65": "35",
}
_KEMENDAGRI_PROVINCE = {v: k for k, v in EDUCATION_PROVINCE.items()}


def education_district(kemendagri_district_code: str) -> str:
    """`33.14.01` → Dapodik `031401`."""
    province, regency, district = kemendagri_district_code.split(".")
    try:
        return f"{EDUCATION_PROVINCE[province]}{regency}{district}"
    except KeyError:
        raise UnmappedRegionCode(f"province {province!r} has no education code") from None


def kemendagri_district_from_education(code: str) -> str:
    """Dapodik `031401  ` (6 digits, often space-padded) → `33.14.01`."""
    text = code.strip()
    province = _KEMENDAGRI_PROVINCE.get(text[:2])
    if len(text) != 6 or not text.isdigit() or province is None:
        raise UnmappedRegionCode(f"education region code {code!r} is not a known kode_wilayah")
    district = f"{province}.{text[2:4]}.{text[4:6]}"
    if catalog().get(district) is None and not catalog().regency_exists(province, text[2:4]):
        raise UnmappedRegionCode(f"education region code {code!r} names no known regency")
    return district
