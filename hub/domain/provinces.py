"""Which province partition a registry row belongs to, and the id that puts it there.

A national registry (#22) partitions `person` and `household` by province. PostgreSQL
requires every unique key of a partitioned table to contain the partition key, and a
foreign key needs a unique key on the columns it refers to; partitioning on a province
column would therefore break every foreign key to `person.id`. Partitioning by ranges of
the id keeps them: the province is written into the id's leading digits when the row is
made, `33` × 10¹³ + a serial number for Central Java, so the id alone says where the row
lives and nothing that refers to it changes.

The province is the one the row's NIK (or KK) was issued in when it has a valid one: that
number never changes, so the row never moves between partitions, and a NIK says which
partition holds its person. Rows without one go by the region they live in, and rows
whose province is unknown keep a plain serial id, which the catch-all partition holds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

# Kemendagri's 38 province codes (Permendagri 2022/2023, after Papua's division).
PROVINCES: tuple[str, ...] = (
    "11", "12", "13", "14", "15", "16", "17", "18", "19", "21",
    "31", "32", "33", "34", "35", "36",
    "51", "52", "53",
    "61", "62", "63", "64", "65",
    "71", "72", "73", "74", "75", "76",
    "81", "82",
    "91", "92", "93", "94", "95", "96",
)
_KNOWN = frozenset(PROVINCES)

# Ids per province: ten trillion serial numbers each; the largest id (96 × 10¹³ + serial)
# stays far below 2⁵³, so a JavaScript client reads it exactly.
BLOCK = 10**13


def province_of(*codes: str | None) -> str | None:
    """The first known province among `codes` (NIK, KK or region code, dotted or
    compact): an identity number's two leading digits, a region code's first part."""
    for code in codes:
        if code and code[:2] in _KNOWN:
            return code[:2]
    return None


def majority_province(codes: Iterable[str | None]) -> str | None:
    """The province most of `codes` name (ties to the smallest code), None if none do:
    a new person's records mostly agree, and a stray typo must not decide."""
    counts = Counter(p for code in codes if (p := province_of(code)))
    if not counts:
        return None
    return min(counts, key=lambda p: (-counts[p], p))


def placed_id(province: str | None, serial: int) -> int:
    """The id of a row numbered `serial` in `province`'s partition (or, without a
    province, the serial itself, which the catch-all partition holds)."""
    if serial < 0 or serial >= BLOCK:
        raise ValueError(f"serial {serial} is outside 0..{BLOCK - 1}")
    return int(province) * BLOCK + serial if province in _KNOWN else serial


def province_of_id(row_id: int) -> str | None:
    """The province partition an id belongs to, None for the catch-all."""
    code = f"{row_id // BLOCK:02d}"
    return code if code in _KNOWN else None


def id_range(province: str) -> tuple[int, int]:
    """The half-open id range of `province`'s partition."""
    if province not in _KNOWN:
        raise ValueError(f"{province!r} is not a province code")
    start = int(province) * BLOCK
    return start, start + BLOCK


def lookup_range(number: str) -> tuple[int, int]:
    """The id range to look a NIK's (or KK's) row up in first: its province's
    partition, or an empty range when the number names no province. A look-up that
    finds nothing there still searches every partition (the row may have been made
    before it had this number), so this only makes the usual case one index probe."""
    province = province_of(number)
    return id_range(province) if province else (0, 0)
