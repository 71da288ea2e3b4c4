from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.domain.kk import InvalidKK, build_kk, parse_kk

TODAY = date(2026, 11, 23)


def test_parses_a_kk_number():
    info = parse_kk("3314012208150004", today=TODAY)
    assert info.district_code == "33.14.01"
    assert info.issued == date(2015, 8, 22)
    assert info.serial == "0004"


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("", "empty"),
        ("33140122081500", "has 14 digits"),
        ("33140122O8150004", "only digits"),
        ("9914012208150004", "not a known regency"),
        ("3314002208150004", "district code 00"),
        ("3314013208150004", "not a date"),
        ("3314012208150000", "serial 0000"),
    ],
)
def test_says_why_a_kk_is_invalid(value, fragment):
    with pytest.raises(InvalidKK, match=fragment):
        parse_kk(value, today=TODAY)


@given(
    issued=st.dates(min_value=date(1975, 1, 1), max_value=TODAY),
    serial=st.integers(1, 9999),
)
def test_built_kk_numbers_parse_back(issued, serial):
    info = parse_kk(build_kk("52.72.03", issued, serial), today=TODAY)
    assert (info.district_code, info.issued, int(info.serial)) == ("52.72.03", issued, serial)
