"""Relatives: the other members of a record's family in the same agency's list, as the
sound keys of their names.

Why: a family card (KK) number is copied by hand as often as a NIK, so two records of
one person may carry two KK numbers, or one may have none. Their families still agree:
the same mother, the same children, spelled alike. Linkage compares the relatives when
the KK numbers do not settle it (`hub.sync.scoring`).

A family is what the agency itself groups: DTKS lists members under a household
(IDBDT), the civil registry and the schools under a KK. Pure functions, no I/O.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

# A dwelling in DTKS may list several families; past this many the list says little
# about who is who, and every comparison would carry it.
MAX_RELATIVES = 12
SEPARATOR = " "  # sound keys have no spaces (`matchkeys.phonetic_of_normalized`)


Family = tuple[str, str]  # (source, the agency's household id or KK number)


def family_of(source: str, household_key: str | None, kk: str | None) -> Family | None:
    """The family a record belongs to within its own agency's list, if it says."""
    key = household_key or kk
    return (source, key) if key else None


def relatives(families: Sequence[Family | None], name_keys: Sequence[str | None]
              ) -> list[str | None]:
    """For each record (the two sequences are its family and its name's sound key):
    the sorted, distinct name keys of the other records of its family, joined by
    spaces (None without any). A second record of the same person in the family (a
    duplicate entry) counts as a relative like any other. Records are positions, not
    ids, and families tuples, not strings: a full run passes millions of them."""
    groups: dict[Family, list[int]] = defaultdict(list)
    for i, family in enumerate(families):
        if family is not None and name_keys[i]:
            groups[family].append(i)
    out: list[str | None] = [None] * len(families)
    for members in groups.values():
        if len(members) < 2:
            continue
        times: dict[str, int] = {}
        for i in members:
            key = name_keys[i] or ""
            times[key] = times.get(key, 0) + 1
        keys = sorted(times)
        for i in members:
            own = name_keys[i]
            # Its own name is not a relative's, unless another record has it too.
            others = [key for key in keys if key != own or times[key] > 1]
            out[i] = SEPARATOR.join(others[:MAX_RELATIVES]) or None
    return out
