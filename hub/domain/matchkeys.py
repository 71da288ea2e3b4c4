"""Matching features of a person-record: the values record linkage compares and blocks on.

Pure functions, no I/O. The phonetic key is ours because the usual ones (Soundex,
Metaphone) are tuned to English: Indonesian spellings vary in other places. F, V and P
are one sound to many speakers (Fatimah/Patimah, Yusuf/Yusup); an H after a vowel comes
and goes (Aisyah/Aisya, Ahmad/Amad); KH and H (Khadijah/Hadijah), SY and S, DZ and Z,
Q and K, Y and I (Rizky/Rizki), and a final D or T (Slamed/Slamet) are spelled either way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from rapidfuzz.distance import JaroWinkler

from hub.domain.names import normalize_name
from hub.domain.nik import nik_problem

_DIGRAPHS = (("KH", "H"), ("SY", "S"), ("DZ", "Z"), ("TH", "T"), ("PH", "P"), ("CK", "K"))
_LETTERS = str.maketrans({"F": "P", "V": "P", "Q": "K", "Y": "I", "X": "K", "W": "U"})
_REPEATS = re.compile(r"(.)\1+")
_INNER_H = re.compile(r"(?<=.)H")


def phonetic_token(token: str) -> str:
    """One name token's sound key."""
    key = token
    for spelled, sound in _DIGRAPHS:
        key = key.replace(spelled, sound)
    key = key.translate(_LETTERS)
    key = _INNER_H.sub("", key)
    if key.endswith("D"):
        key = key[:-1] + "T"
    return _REPEATS.sub(r"\1", key)


def phonetic_key(name: str | None) -> str:
    """The sound key of a whole name, tokens joined without spaces so that "Nur Hayati"
    and "Nurhayati" share it."""
    return phonetic_token(normalize_name(name).replace(" ", ""))


@lru_cache(maxsize=1 << 18)
def phonetic_of_normalized(name_norm: str) -> str:
    """`phonetic_key` of a name already normalised (saves normalising twice). Remembered:
    a registry's common names come back thousands of times, and this is a few regular
    expressions each."""
    return phonetic_token(name_norm.replace(" ", ""))


@dataclass(frozen=True, slots=True)
class MatchFeatures:
    """What linkage compares. `nik` is set only when structurally valid: an invalid NIK
    says nothing about identity and must not count as a disagreement either."""

    source: str
    nik: str | None
    name_norm: str
    name_key: str
    first_name: str | None
    birth_date: str | None
    birth_year: int | None
    sex: str | None
    village_code: str | None
    district_code: str | None
    regency_code: str | None
    kk: str | None
    household_key: str | None = None
    # The other members of its family (`relatives`): known only with the whole list,
    # so a run fills it in after reading every record.
    relatives: str | None = None

    @property
    def nik12(self) -> str | None:
        """Region and birth date part of the NIK: a typo in the serial keeps it."""
        return self.nik[:12] if self.nik else None


def _region_parts(village: str | None) -> tuple[str | None, str | None]:
    if not village:
        return None, None
    parts = village.split(".")
    district = ".".join(parts[:3]) if len(parts) >= 3 else None
    regency = ".".join(parts[:2]) if len(parts) >= 2 else None
    return district, regency


def _valid_nik(value: Any) -> str | None:
    if not value:
        return None
    text = str(value)
    return text if nik_problem(text) is None else None


def _valid_kk(value: Any) -> str | None:
    text = str(value).strip() if value else ""
    return text if len(text) == 16 and text.isdigit() and text[6:] != "0" * 10 else None


def _district_of_number(number: str | None) -> str | None:
    """NIK and KK both begin with the kecamatan that issued them."""
    return f"{number[:2]}.{number[2:4]}.{number[4:6]}" if number else None


def features(source: str, normalized: dict[str, Any], *,
             village_code: str | None = None) -> MatchFeatures:
    """The features of a staged record's normalized form (see `connectors.mapping`).
    `village_code` stands in when the record itself has none (a DTKS member lives in
    its household's village)."""
    name_norm = normalized.get("name_normalized") or normalize_name(normalized.get("name"))
    birth = normalized.get("birth_date")
    village = normalized.get("village_code") or village_code
    nik = _valid_nik(normalized.get("nik"))
    kk = _valid_kk(normalized.get("kk"))
    district, regency = _region_parts(village)
    if district is None:
        # Where the record says nothing of its residence, the kecamatan that issued its
        # KK or NIK (or the school's) is the next best place.
        district = (_district_of_number(kk) or _district_of_number(nik)
                    or normalized.get("school_district_code"))
        regency = ".".join(district.split(".")[:2]) if district else None
    tokens = name_norm.split()
    return MatchFeatures(
        source=source,
        nik=nik,
        name_norm=name_norm,
        name_key=phonetic_of_normalized(name_norm),
        first_name=tokens[0] if tokens else None,
        birth_date=birth,
        birth_year=date.fromisoformat(birth).year if birth else None,
        sex=normalized.get("sex"),
        village_code=village,
        district_code=district,
        regency_code=regency,
        kk=kk,
        household_key=normalized.get("household_key"),
    )


def corroborated(a: MatchFeatures, b: MatchFeatures) -> bool:
    """Does more than the NIK say these two records are one person? A NIK has no check
    digit: a one-digit typo is another valid-looking NIK, and some NIKs were issued
    twice. So an exact NIK link needs the name or the birth date to agree as well."""
    if a.birth_date and a.birth_date == b.birth_date:
        return True
    if a.name_key and a.name_key == b.name_key:
        return True
    return JaroWinkler.similarity(a.name_norm, b.name_norm) >= 0.88


def sorted_words(name_norm: str) -> str:
    """The name's words in alphabetical order: "Aminah Siti" sorts as "Siti Aminah"."""
    return " ".join(sorted(name_norm.split()))


def initials(name_norm: str) -> str | None:
    """The first letters of a name's first and last words, in alphabetical order: the
    same for "Siti Aminah", "Sitti Aminah" and "Aminah Siti", whatever the typos
    after the first letter. Blocks with a place (`hub.sync.filelink.BROAD_KEYS`)."""
    words = name_norm.split()
    if not words:
        return None
    return "".join(sorted({words[0][0], words[-1][0]}))


# Sorted neighbourhood: records sorted by name, cut into windows of this many; two
# cuts half a window apart, so that each record meets its neighbours on both sides.
NEIGHBOURHOOD = 8
NEIGHBOURHOOD_COLUMNS = ("sn_words", "sn_words_half", "sn_reversed", "sn_reversed_half")


def neighbourhoods(rows: Sequence[dict[str, Any]], window: int = NEIGHBOURHOOD) -> None:
    """Give each row its windows in two name orders: the words sorted (a swap of the
    name's parts sorts the same), and the same string reversed (a typo in the first
    letters still sorts near). The fuzzy blocking rule for names that share no key:
    pairs stay linear in the rows (about `window` per row), whatever the data."""
    def sort_key(row: dict[str, Any]) -> str:
        return sorted_words(row["name_norm"])

    named = [row for row in rows if row["name_norm"]]
    for row in rows:
        row.update(dict.fromkeys(NEIGHBOURHOOD_COLUMNS))
    for order, (whole, half) in (
        (sorted(named, key=sort_key), NEIGHBOURHOOD_COLUMNS[:2]),
        (sorted(named, key=lambda row: sort_key(row)[::-1]), NEIGHBOURHOOD_COLUMNS[2:]),
    ):
        for rank, row in enumerate(order):
            row[whole] = rank // window
            row[half] = (rank + window // 2) // window
