"""The blocking keys that let a pair with no shared name key still be compared."""

from __future__ import annotations

import random
import string
from collections import Counter

from hub.domain.matchkeys import NEIGHBOURHOOD_COLUMNS, initials, neighbourhoods


def test_initials_ignore_word_order_and_typos_after_the_first_letter() -> None:
    assert initials("SITI AMINAH") == initials("AMINAH SITI") == initials("SITY AMINAH")
    assert initials("SITI AMINAH") != initials("BUDI AMINAH")
    assert initials("SITI NUR AMINAH") == "AS"  # first and last words only
    assert initials("SUKARNO") == "S"
    assert initials("") is None


def _rows(names: list[str]) -> list[dict[str, object]]:
    return [{"unique_id": i, "name_norm": name} for i, name in enumerate(names)]


def test_a_swapped_and_mistyped_name_shares_a_window_with_its_original() -> None:
    rng = random.Random(7)
    names = ["".join(rng.choices(string.ascii_uppercase, k=6)) + " "
             + "".join(rng.choices(string.ascii_uppercase, k=7)) for _ in range(2_000)]
    rows = _rows([*names, "COUZENS LACHLAN", "LACHOAN COUZESN", "SITI AMINAH", "AMINAH XITI"])
    neighbourhoods(rows)
    by_id = {row["unique_id"]: row for row in rows}

    def share(a: int, b: int) -> bool:
        return any(by_id[a][c] == by_id[b][c] for c in NEIGHBOURHOOD_COLUMNS)

    last = len(names)
    assert share(last, last + 1)  # a typo late in both words: the words-sorted order
    assert share(last + 2, last + 3)  # swapped, the first letter mistyped: reversed order


def test_windows_bound_the_pairs_per_record_whatever_the_names() -> None:
    """Every name the same, or all different: each window holds at most its size, so
    the pairs grow with the rows, not their square."""
    for names in (["BUDI"] * 1_000, [f"N{i:05d}" for i in range(1_000)]):
        rows = _rows([*names, ""])
        neighbourhoods(rows, window=8)
        assert all(rows[-1][c] is None for c in NEIGHBOURHOOD_COLUMNS)  # no name, no window
        for column in NEIGHBOURHOOD_COLUMNS:
            sizes = Counter(row[column] for row in rows[:-1])
            assert max(sizes.values()) <= 8
            assert sum(sizes.values()) == len(names)
