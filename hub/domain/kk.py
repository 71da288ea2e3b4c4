"""KK (Kartu Keluarga) numbers: the family card that identifies a household.

Layout: PPKKCC DDMMYY SSSS — the district that issued it, the issue date, a serial.
Unlike a NIK the date is an issue date (no +40), so it may be any day up to today.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from hub.domain.dates import resolve_century
from hub.domain.nik import clean_nik
from hub.domain.regions import catalog


class InvalidKK(ValueError):
    """Why a string cannot be a KK number."""


@dataclass(frozen=True, slots=True)
class KKInfo:
    kk: str
    district_code: str
    issued: date
    serial: str


def parse_kk(value: str | int | None, *, today: date | None = None) -> KKInfo:
    kk = clean_nik(value)
    if not kk:
        raise InvalidKK("KK number is empty")
    if not kk.isdigit():
        raise InvalidKK(f"KK number {kk!r} must contain only digits")
    if len(kk) != 16:
        raise InvalidKK(f"KK number {kk!r} has {len(kk)} digits; a KK number has 16")
    province, regency, district = kk[0:2], kk[2:4], kk[4:6]
    regions = catalog()
    if province not in regions.provinces or not regions.regency_exists(province, regency):
        raise InvalidKK(f"KK number {kk}: {province}.{regency} is not a known regency")
    if district == "00":
        raise InvalidKK(f"KK number {kk}: district code 00 does not exist")
    today = today or date.today()
    try:
        issued = resolve_century(int(kk[6:8]), int(kk[8:10]), int(kk[10:12]), today)
    except ValueError:
        raise InvalidKK(f"KK number {kk}: digits 7-12 ({kk[6:12]}) are not a date") from None
    if kk[12:16] == "0000":
        raise InvalidKK(f"KK number {kk}: serial 0000 is never issued")
    return KKInfo(kk, f"{province}.{regency}.{district}", issued, kk[12:16])


def build_kk(district_code: str, issued: date, serial: int) -> str:
    if not 1 <= serial <= 9999:
        raise ValueError("serial must be 1..9999")
    return district_code.replace(".", "") + issued.strftime("%d%m%y") + f"{serial:04d}"
