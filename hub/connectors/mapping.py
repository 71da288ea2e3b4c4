"""Mapping agency values to the hub's terms. An invalid NIK is a data-quality finding,
not a schema violation: the record is staged with the problem noted, so matching can
still use its name and birth date."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator

from hub.domain.names import normalize_name
from hub.domain.nik import clean_nik, nik_problem

DATE_FORMATS = ("YYYY-MM-DD", "DD-MM-YYYY", "DD/MM/YYYY", "YYYY/MM/DD", "DD.MM.YYYY")
# One expression instead of strptime per format: staging parses millions of dates.
_YEAR_FIRST = re.compile(r"(\d{4})([-/])(\d{1,2})\2(\d{1,2})")
_DAY_FIRST = re.compile(r"(\d{1,2})([-/.])(\d{1,2})\2(\d{4})")


def parse_date(value: Any) -> date | None:
    """Dates as agencies write them; ValueError (with the value) when none fits."""
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    text = str(value).strip()
    if match := _YEAR_FIRST.fullmatch(text):
        year, month, day = int(match[1]), int(match[3]), int(match[4])
    elif match := _DAY_FIRST.fullmatch(text):
        day, month, year = int(match[1]), int(match[3]), int(match[4])
    else:
        raise ValueError(f"date {text!r} is in none of the formats {', '.join(DATE_FORMATS)}")
    try:
        return date(year, month, day)
    except ValueError:
        raise ValueError(f"date {text!r} is not a calendar date") from None


def iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def identity(nik: Any, name: str | None, birth: date | None, sex: str | None,
             **extra: Any) -> dict[str, Any]:
    """The identity fields every person-record stream normalises to."""
    cleaned = clean_nik(nik) or None
    problem = nik_problem(cleaned) if cleaned else None
    return {
        "nik": cleaned,
        "nik_problem": problem.problem.value if problem else ("EMPTY" if not cleaned else None),
        "name": name,
        "name_normalized": normalize_name(name),
        "birth_date": iso(birth),
        "sex": sex,
        **extra,
    }


def _text_or_none(value: Any) -> Any:
    """Blank is no number: a spreadsheet's empty cell and an API's empty string say the
    same, and must stage alike (a DTKS export and its API did not, for blank KKs)."""
    if value is None:
        return None
    return str(value).strip() or None


def _checked_date(value: str | None) -> str | None:
    parse_date(value)
    return value


# Identity numbers as text, whatever arrived: spreadsheets turn NIKs into numbers.
IdText = Annotated[str | None, BeforeValidator(_text_or_none)]
# A date in one of the agencies' formats, kept as the agency wrote it.
DateText = Annotated[str, AfterValidator(_checked_date)]
OptionalDateText = Annotated[str | None, AfterValidator(_checked_date)]
