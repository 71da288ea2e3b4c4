"""NIK (Nomor Induk Kependudukan), the 16-digit national identity number.

Layout: PPKKCC DDMMYY SSSS — province, regency, district of first registration; birth
date with 40 added to the day for women; a serial. There is no check digit, so a
one-digit typo usually yields another valid-looking NIK: parsing tells a NIK that
*cannot* be right from one that *might* be, never that it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from hub.domain.dates import resolve_century
from hub.domain.regions import catalog


class Sex(StrEnum):
    MALE = "M"
    FEMALE = "F"


class NikProblem(StrEnum):
    EMPTY = "EMPTY"
    NOT_DIGITS = "NOT_DIGITS"
    WRONG_LENGTH = "WRONG_LENGTH"
    UNKNOWN_PROVINCE = "UNKNOWN_PROVINCE"
    UNKNOWN_REGENCY = "UNKNOWN_REGENCY"
    ZERO_DISTRICT = "ZERO_DISTRICT"
    BAD_BIRTH_DATE = "BAD_BIRTH_DATE"
    ZERO_SERIAL = "ZERO_SERIAL"


class InvalidNik(ValueError):
    """Why a string cannot be a NIK. `problem` is stable for code, `str()` is for people."""

    def __init__(self, problem: NikProblem, message: str) -> None:
        super().__init__(message)
        self.problem = problem


@dataclass(frozen=True, slots=True)
class NikInfo:
    nik: str
    province_code: str   # "33"
    regency_code: str    # "33.14"
    district_code: str   # "33.14.01"
    birth_date: date
    sex: Sex
    serial: str


def clean_nik(value: str | int | None) -> str:
    """Strip the spacing and separators people type or spreadsheets add; keep the digits.

    Spreadsheets also turn a NIK into a float (3.314014101900001e+15): that one is lost
    beyond repair and is left as is so that validation reports it.
    """
    if value is None:
        return ""
    text = str(value).strip()
    for separator in (" ", ".", "-", "\u00a0"):
        text = text.replace(separator, "")
    return text


def parse_nik(value: str | int | None, *, today: date | None = None) -> NikInfo:
    """Parse and validate a NIK, or raise InvalidNik with the reason."""
    nik = clean_nik(value)
    if not nik:
        raise InvalidNik(NikProblem.EMPTY, "NIK is empty")
    if not nik.isdigit():
        raise InvalidNik(NikProblem.NOT_DIGITS, f"NIK {nik!r} must contain only digits")
    if len(nik) != 16:
        raise InvalidNik(
            NikProblem.WRONG_LENGTH, f"NIK {nik!r} has {len(nik)} digits; a NIK has 16"
        )
    province, regency, district = nik[0:2], nik[2:4], nik[4:6]
    regions = catalog()
    if province not in regions.provinces:
        raise InvalidNik(
            NikProblem.UNKNOWN_PROVINCE, f"NIK {nik} starts with {province}, not a province code"
        )
    if not regions.regency_exists(province, regency):
        raise InvalidNik(
            NikProblem.UNKNOWN_REGENCY,
            f"NIK {nik}: {province}.{regency} is not a regency of province {province}",
        )
    if district == "00":
        raise InvalidNik(NikProblem.ZERO_DISTRICT, f"NIK {nik}: district code 00 does not exist")
    day, month, yy = int(nik[6:8]), int(nik[8:10]), int(nik[10:12])
    sex = Sex.FEMALE if day > 40 else Sex.MALE
    if sex is Sex.FEMALE:
        day -= 40
    today = today or date.today()
    try:
        born = resolve_century(day, month, yy, today)
    except ValueError:
        raise InvalidNik(
            NikProblem.BAD_BIRTH_DATE,
            f"NIK {nik}: digits 7-12 ({nik[6:12]}) are not a birth date DDMMYY "
            "(day + 40 for women)",
        ) from None
    serial = nik[12:16]
    if serial == "0000":
        raise InvalidNik(NikProblem.ZERO_SERIAL, f"NIK {nik}: serial 0000 is never issued")
    return NikInfo(
        nik=nik,
        province_code=province,
        regency_code=f"{province}.{regency}",
        district_code=f"{province}.{regency}.{district}",
        birth_date=born,
        sex=sex,
        serial=serial,
    )


def nik_problem(value: str | int | None, *, today: date | None = None) -> InvalidNik | None:
    """The reason `value` is not a NIK, or None when it could be one."""
    try:
        parse_nik(value, today=today)
    except InvalidNik as exc:
        return exc
    return None


def build_nik(district_code: str, birth_date: date, sex: Sex, serial: int) -> str:
    """The NIK Dukcapil would issue; used by the population generator and by tests."""
    if not 1 <= serial <= 9999:
        raise ValueError("serial must be 1..9999")
    day = birth_date.day + (40 if sex is Sex.FEMALE else 0)
    return (
        district_code.replace(".", "")
        + f"{day:02d}{birth_date.month:02d}{birth_date.year % 100:02d}{serial:04d}"
    )


def mask_nik(nik: str) -> str:
    """`3314********0001`: enough to tell two people apart at a desk, not to impersonate."""
    if len(nik) != 16:
        return "*" * len(nik)
    return nik[:4] + "*" * 8 + nik[12:]
