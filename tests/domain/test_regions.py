import pytest

from hub.domain.regions import (
    InvalidRegionCode,
    RegionLevel,
    catalog,
    code_range,
    level_of,
    normalize_region_code,
    parent_of,
)

DEMO_REGENCIES = {
    "33.14": "Kab. Sragen", "35.10": "Kab. Banyuwangi", "73.03": "Kab. Bantaeng",
    "32.04": "Kab. Bandung", "52.72": "Kota Bima", "33.29": "Kab. Brebes",
    "16.06": "Kab. Musi Banyuasin",
}


def test_demo_regencies_are_present_with_districts_and_villages():
    regions = catalog()
    for code, name in DEMO_REGENCIES.items():
        regency = regions.get(code)
        assert regency is not None
        assert regency.name == name
        assert regency.level is RegionLevel.REGENCY
        assert regency.children, f"{name} has no districts"
        for district_code in regency.children:
            district = regions.get(district_code)
            assert district.parent_code == code
            assert district.children, f"{district.name} has no villages"


def test_real_kecamatan_names():
    regions = catalog()
    assert regions.get("33.14.01").name == "Kalijambe"
    assert regions.get("33.14.10").name == "Sragen"
    assert regions.get("35.10.16").name == "Banyuwangi"
    assert regions.get("32.04.37").name == "Soreang"
    assert regions.get("52.72.05").name == "Mpunda"


def test_village_codes_have_the_kemendagri_shape():
    for region in catalog().regions.values():
        assert normalize_region_code(region.code) == region.code
        assert level_of(region.code) is region.level
        if region.level is RegionLevel.VILLAGE:
            assert region.code.rsplit(".", 1)[1][0] in "12"  # kelurahan 1xxx, desa 2xxx


@pytest.mark.parametrize(
    ("raw", "dotted"),
    [("33", "33"), ("3314", "33.14"), ("331401", "33.14.01"), ("3314012001", "33.14.01.2001"),
     (" 33.14.01 ", "33.14.01")],
)
def test_compact_and_dotted_codes(raw, dotted):
    assert normalize_region_code(raw) == dotted


@pytest.mark.parametrize("bad", ["3", "33.1", "33.14.1", "33-14", "33.00", "abc", ""])
def test_bad_codes_say_so(bad):
    with pytest.raises(InvalidRegionCode):
        normalize_region_code(bad)


def test_parent_and_range():
    assert parent_of("33.14.01.2001") == "33.14.01"
    assert parent_of("33") is None
    low, high = code_range("33.14")
    assert low <= "33.14.01.2001" < high
    assert not (low <= "33.15.01.2001" < high)
    assert not (low <= "33.15" < high)


def test_regency_numbering_rules():
    regions = catalog()
    assert regions.regency_exists("33", "29")       # Kab. Brebes, the last Central Java kab.
    assert not regions.regency_exists("33", "30")
    assert regions.regency_exists("33", "76")       # Kota Tegal
    assert not regions.regency_exists("76", "71")   # Sulawesi Barat has no kota


def test_bps_crosswalk_round_trips_every_demo_village():
    from hub.domain.crosswalk import bps_village, kemendagri_village

    villages = [r for r in catalog().regions.values() if r.level is RegionLevel.VILLAGE]
    assert villages
    for village in villages:
        bps = bps_village(village.code)
        assert len(bps) == 10
        assert bps[:4] == village.code[:5].replace(".", "")  # province and regency agree
        assert kemendagri_village(bps) == village.code


def test_education_codes_use_the_ministrys_province_numbering():
    from hub.domain.crosswalk import (
        UnmappedRegionCode,
        education_district,
        kemendagri_district_from_education,
    )

    assert education_district("33.14.01") == "031401"     # Jawa Tengah is 03 there
    assert education_district("32.04.05") == "020405"     # Jawa Barat is 02
    assert kemendagri_district_from_education("031401  ") == "33.14.01"
    with pytest.raises(UnmappedRegionCode):
        kemendagri_district_from_education("991401")
    with pytest.raises(UnmappedRegionCode):
        kemendagri_district_from_education("03-14")
