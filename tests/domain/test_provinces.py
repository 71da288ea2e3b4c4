"""Province placement of registry ids (#22): pure rules, every province and the edges."""

from __future__ import annotations

import pytest

from hub.domain.provinces import (
    BLOCK,
    PROVINCES,
    id_range,
    majority_province,
    placed_id,
    province_of,
    province_of_id,
)


def test_there_are_thirty_eight_provinces_each_once() -> None:
    assert len(PROVINCES) == 38
    assert len(set(PROVINCES)) == 38
    assert all(len(code) == 2 and code.isdigit() for code in PROVINCES)


@pytest.mark.parametrize(("codes", "expected"), [
    (("3314015708800002",), "33"),          # a NIK
    (("7303011234567890",), "73"),          # a KK
    (("33.14.01.2001",), "33"),             # a dotted village code
    (("3510",), "35"),                      # a compact regency code
    (("9912345678901234", "52.72"), "52"),  # no province 99: the next code decides
    (("2012345678901234",), None),          # 20 is not a province
    ((None, "", "3"), None),                # nothing to go by
    (("ab.cd",), None),
    ((None, "16.06.01"), "16"),
])
def test_province_of_reads_the_first_code_naming_a_province(codes, expected) -> None:
    assert province_of(*codes) == expected


def test_majority_province_outvotes_a_stray_code_and_breaks_ties_alike() -> None:
    assert majority_province(["3314", "3314", "7303", None]) == "33"
    assert majority_province(["7303", "3314"]) == "33"  # a tie, the smaller code
    assert majority_province(["3314", "7303"]) == "33"  # whatever the order
    assert majority_province([None, "", "0000"]) is None


@pytest.mark.parametrize("province", PROVINCES)
def test_an_id_placed_in_a_province_lies_in_its_range_and_says_so(province: str) -> None:
    start, end = id_range(province)
    for serial in (0, 1, 123_456_789, BLOCK - 1):
        row_id = placed_id(province, serial)
        assert start <= row_id < end
        assert province_of_id(row_id) == province
        assert row_id % BLOCK == serial
    assert placed_id(province, BLOCK - 1) < 2**53  # exact as a JavaScript number


def test_without_a_province_the_id_is_the_serial_in_the_catch_all() -> None:
    assert placed_id(None, 42) == 42
    assert placed_id("20", 42) == 42
    assert province_of_id(42) is None


def test_a_serial_outside_a_block_is_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        placed_id("33", BLOCK)
    with pytest.raises(ValueError, match="outside"):
        placed_id("33", -1)
    with pytest.raises(ValueError, match="not a province"):
        id_range("20")
