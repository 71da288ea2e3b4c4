"""The DDMMYY dates inside NIK and KK numbers carry no century; these rules supply it."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime


def resolve_century(day: int, month: int, yy: int, today: date) -> date:
    """The latest date with these digits that is not in the future.

    A person born in '05 today is 2005, not 1905; the rare centenarian is mis-dated, which
    is the ambiguity of the NIK itself and not ours to hide. Raises ValueError when the
    digits name no calendar day.
    """
    year = 2000 + yy
    candidate = date(year, month, day) if _valid(year, month, day) else None
    if candidate is None or candidate > today:
        year = 1900 + yy
        if not _valid(year, month, day):
            raise ValueError(f"{day:02d}-{month:02d}-{yy:02d} is not a calendar date")
        candidate = date(year, month, day)
    return candidate


def _valid(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


_MONTHS = {
    name: number
    for number, names in enumerate((
        ("jan", "januari", "january"), ("feb", "februari", "february", "peb", "pebruari"),
        ("mar", "maret", "march"), ("apr", "april"), ("mei", "may"),
        ("jun", "juni", "june"), ("jul", "juli", "july"),
        ("agu", "agt", "ags", "agustus", "aug", "august"),
        ("sep", "sept", "september"), ("okt", "oktober", "oct", "october"),
        ("nov", "nopember", "november"), ("des", "desember", "dec", "december"),
    ), start=1)
    for name in names
}
_NUMERIC = re.compile(r"(\d{1,4})[-/.\s](\d{1,2})[-/.\s](\d{1,4})")
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")
_WORDY = re.compile(r"(\d{1,2})[-/.\s]+([A-Za-z]+)\.?[-/.\s,]+(\d{4})")


def parse_any_date(value: object, *, day_first: bool = True) -> date | None:
    """A date as people write it in spreadsheets: 1980-01-31, 31-01-1980, 31/1/1980,
    31.01.1980, 19800131, 31 Januari 1980, 31 Jan 1980, a timestamp, or a date object.
    Ambiguous day/month orders follow `day_first` (the Indonesian habit) unless one of
    the two numbers cannot be a month. None when nothing fits."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip().split("T")[0].split(" 00:00")[0]
    if not text:
        return None
    try:
        if match := _COMPACT.fullmatch(text):
            return date(int(match[1]), int(match[2]), int(match[3]))
        if match := _WORDY.fullmatch(text):
            month = _MONTHS.get(match[2].lower())
            return date(int(match[3]), month, int(match[1])) if month else None
        if match := _NUMERIC.fullmatch(text):
            a, b, c = (int(part) for part in match.groups())
            if len(match[1]) == 4:
                return date(a, b, c)
            first, second = (a, b) if day_first else (b, a)
            if first <= 12 < second:  # the "day" cannot be a month: swap
                first, second = second, first
            return date(c, second, first)
    except ValueError:
        return None
    return None


def as_utc(moment: datetime | None) -> datetime | None:
    """A stored moment as an aware UTC datetime: SQLite hands timestamps back without
    their zone, and the hub writes them all in UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment
