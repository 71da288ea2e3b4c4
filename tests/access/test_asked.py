"""The NIKs and KKs a request asked about, found in its variables: exactly the texts
that are 16 decimal digits once stripped, as the regular expression `\\d{16}` says."""

from __future__ import annotations

import random
import re

from hub.access.asked import identifiers

DIGITS = "0123456789٠١٢٣٤٥٦٧٨٩²³½"  # ASCII, Arabic-Indic (decimal), and non-decimal ones
PADDING = ["", " ", "\t", "\u00a0", "\n", "-", "."]


def _text(rng: random.Random) -> str:
    length = rng.choice((15, 16, 16, 16, 17, 3))
    body = "".join(rng.choice("0123456789" if rng.random() < 0.8 else DIGITS)
                   for _ in range(length))
    return rng.choice(PADDING) + body + rng.choice(PADDING)


def test_the_identifiers_asked_are_the_16_digit_texts() -> None:
    rng = random.Random(61)
    texts = [_text(rng) for _ in range(5_000)]
    expected = {t.strip() for t in texts if re.fullmatch(r"\d{16}", t.strip())}
    found = identifiers(frozenset({"3314015208850001"}),
                        {"niks": texts[:2_500], "nested": {"more": texts[2_500:], "n": 5}})
    assert found == expected | {"3314015208850001"}
    assert len(expected) > 500
    assert any(not t.isascii() for t in expected)  # Unicode decimal digits count too
