from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.domain.nik import InvalidNik, NikProblem, Sex, build_nik, mask_nik, nik_problem, parse_nik

TODAY = date(2026, 11, 23)
SRAGEN_KALIJAMBE = "33.14.01"


def test_parses_a_womans_nik():
    info = parse_nik("3314015208850003", today=TODAY)
    assert info.sex is Sex.FEMALE
    assert info.birth_date == date(1985, 8, 12)
    assert info.district_code == "33.14.01"
    assert info.regency_code == "33.14"
    assert info.serial == "0003"


def test_parses_a_mans_nik_born_this_century():
    info = parse_nik("3314011203150001", today=TODAY)
    assert info.sex is Sex.MALE
    assert info.birth_date == date(2015, 3, 12)


def test_two_digit_year_never_lands_in_the_future():
    # '30' is 1930 on a 2026 calendar, not 2030.
    assert parse_nik("3314011203300001", today=TODAY).birth_date == date(1930, 3, 12)


def test_tolerates_spaces_and_dots_people_type():
    assert parse_nik(" 3314.0152.0885.0003 ", today=TODAY).nik == "3314015208850003"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", NikProblem.EMPTY),
        (None, NikProblem.EMPTY),
        ("33140152O8850003", NikProblem.NOT_DIGITS),
        ("3.314015208850003E+15", NikProblem.NOT_DIGITS),
        ("331401520885000", NikProblem.WRONG_LENGTH),
        ("9914015208850003", NikProblem.UNKNOWN_PROVINCE),
        ("3399015208850003", NikProblem.UNKNOWN_REGENCY),
        ("3314005208850003", NikProblem.ZERO_DISTRICT),
        ("3314013208850003", NikProblem.BAD_BIRTH_DATE),  # day 32 is neither sex
        ("3314017208850003", NikProblem.BAD_BIRTH_DATE),  # 72 - 40 = 32
        ("3314011213850003", NikProblem.BAD_BIRTH_DATE),  # month 13
        ("3314012902010003", NikProblem.BAD_BIRTH_DATE),  # 29 Feb 2001 / 1901
        ("3314015208850000", NikProblem.ZERO_SERIAL),
    ],
)
def test_says_why_a_nik_is_invalid(value, problem):
    with pytest.raises(InvalidNik) as caught:
        parse_nik(value, today=TODAY)
    assert caught.value.problem is problem
    assert str(caught.value)  # a message a person can read


def test_kota_regency_codes_are_valid():
    # Kota Bima is 52.72: kota are numbered from 71.
    assert parse_nik("5272011203900001", today=TODAY).regency_code == "52.72"
    assert nik_problem("5279011203900001", today=TODAY).problem is NikProblem.UNKNOWN_REGENCY


def test_a_date_after_today_belongs_to_the_last_century():
    # 25-11-26 is after TODAY in 2026, so the century rule takes 1926: still valid.
    assert nik_problem("3314012511260001", today=TODAY) is None
    assert parse_nik("3314012511260001", today=TODAY).birth_date == date(1926, 11, 25)


def test_mask_keeps_region_and_serial_only():
    assert mask_nik("3314015208850003") == "3314********0003"


births = st.dates(min_value=date(1927, 1, 1), max_value=TODAY)


@given(born=births, sex=st.sampled_from(list(Sex)), serial=st.integers(1, 9999))
def test_built_niks_parse_back(born, sex, serial):
    nik = build_nik(SRAGEN_KALIJAMBE, born, sex, serial)
    info = parse_nik(nik, today=TODAY)
    assert (info.birth_date, info.sex, info.district_code) == (born, sex, SRAGEN_KALIJAMBE)
    assert int(info.serial) == serial


@given(
    born=births,
    sex=st.sampled_from(list(Sex)),
    position=st.integers(0, 15),
    junk=st.sampled_from(list("OoIl -x/")),
)
def test_a_non_digit_anywhere_is_never_accepted(born, sex, position, junk):
    nik = build_nik(SRAGEN_KALIJAMBE, born, sex, 17)
    broken = nik[:position] + junk + nik[position + 1 :]
    problem = nik_problem(broken, today=TODAY)
    # Separators are cleaned away (then the length is wrong); letters are not digits.
    assert problem is not None
    assert problem.problem in {NikProblem.NOT_DIGITS, NikProblem.WRONG_LENGTH}


@given(st.text(max_size=20))
def test_any_text_either_parses_or_gives_a_reason(text):
    problem = nik_problem(text, today=TODAY)
    if problem is None:
        assert parse_nik(text, today=TODAY).nik.isdigit()
    else:
        assert isinstance(problem.problem, NikProblem)
