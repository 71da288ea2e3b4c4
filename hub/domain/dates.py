"""The DDMMYY dates inside NIK and KK numbers carry no century; these rules supply it."""

from __future__ import annotations

from datetime import date


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
