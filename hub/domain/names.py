"""Indonesian personal names, normalised so that one person's spellings compare equal.

The same woman is "Hj. Siti Aminah, S.Pd." at the education office, "SITI AMINAH" at
Dukcapil and "Sitti Aminah" in DTKS; "Moch. Djoko" is "Muhammad Joko" after the 1972
spelling reform. Normalisation removes what is not part of a name (titles, degrees,
punctuation, case) and folds variants that are the same name; it does not guess at
nicknames, which are a matching concern with their own evidence.
"""

from __future__ import annotations

import re
import unicodedata

# Honorifics and religious or noble titles that stand before a name.
_PREFIX_TITLES = frozenset(
    {
        "H", "HJ", "HAJI", "HAJAH", "HAJJAH", "KH", "KYAI", "NY", "NYONYA", "TN", "TUAN",
        "SDR", "SDRI", "BPK", "BP", "BAPAK", "IBU", "ALM", "ALMH", "ALMARHUM",
        "ALMARHUMAH", "DR", "DRS", "DRA", "IR", "PROF", "USTADZ", "USTAZ", "USTADZAH",
        "DRG",
    }
)
_PREFIX = re.compile(
    r"^(?:(?:" + "|".join(sorted(_PREFIX_TITLES, key=len, reverse=True)) + r")(?:\.\s*|\s+))+"
)
# Degrees (gelar) that follow a name, with or without dots: S.Pd, SPd, S.Pd.I, A.Md ...
_DEGREE = re.compile(
    r"^(S|M|D|A)\.?\s?(PD|AG|H|E|KOM|SOS|T|IP|KEP|KM|SI|SN|P|PT|HUT|FARM|GZ|AK|KED|"
    r"PSI|HI|SY|PDI|MD|MA|M|SC|KES|KEB|TR|ST|STP)(\.?I)?\.?$"
    r"|^(SH|SE|ST|SS|SP|SKM|SKEP|SPD|SAG|SSOS|SKOM|SIP|MM|MH|MSI|MPD|MAG|AMD|AMKEP|AMKEB|"
    r"MBA|MSC|PHD|BSC|BA|LC|MA|SPDI|SHI|SSY|SPT|SKED|SKG|SPSI)\.?$"
)
_MUHAMMAD = frozenset(
    {
        "MUHAMMAD", "MUHAMAD", "MUHAMMED", "MOHAMMAD", "MOHAMAD", "MOHAMMED", "MOHAMED",
        "MOCHAMMAD", "MOCHAMAD", "MOKHAMAD", "MUCHAMMAD", "MUCHAMAD", "MUHAMMMAD", "MOH",
        "MOCH", "MUH", "MUCH", "MHD", "MUHD", "MOHD", "MOHH",
    }
)
# Pre-1972 spellings (Van Ophuijsen / Soewandi) to EYD, longest first.
_OLD_SPELLING = re.compile(r"OE|DJ|TJ|SJ|NJ|CH")
_OLD_TO_NEW = {"OE": "U", "DJ": "J", "TJ": "C", "SJ": "SY", "NJ": "NY", "CH": "KH"}
_NOT_LETTER = re.compile(r"[^A-Z ]+")
_NOT_NAME_TEXT = re.compile(r"[^A-Z .']+")
_REPEATS = re.compile(r"([A-Z])\1+")
_SPACES = re.compile(r"\s+")


def _ascii_upper(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).upper()


def _strip_degrees(raw: str) -> str:
    """Drop ", S.Pd., M.Pd." tails and degree tokens at the end of the name."""
    head, *tail = raw.split(",")
    kept = [head] + [part for part in tail if not _is_degree_run(part)]
    return " ".join(kept)


def _is_degree_run(part: str) -> bool:
    tokens = part.strip().split()
    return bool(tokens) and all(_DEGREE.match(token.upper()) for token in tokens)


def normalize_name(raw: str | None) -> str:
    """The comparable form of a name: upper-case ASCII words, titles and degrees removed,
    Muhammad variants folded, old spellings modernised, repeated letters collapsed.

    Applied until nothing changes: one rule can produce what another removes (ß becomes
    SS, repeats collapse to SH, and SH is a law degree), and a normal form must be stable.
    In practice it settles after one or two extra passes; the bound is a guard.
    """
    if not raw:
        return ""
    current = _normalize_once(raw)
    for _ in range(8):
        following = _normalize_once(current)
        if following == current:
            break
        current = following
    return current


def _normalize_once(raw: str) -> str:
    # Characters that cannot be part of a name go first, so that what is left is what
    # titles are recognised in (else "0H A" would lose its "H" only on a second pass).
    text = _NOT_NAME_TEXT.sub(" ", _strip_degrees(_ascii_upper(raw))).strip()
    without_titles = _PREFIX.sub("", text)
    if without_titles.strip(" ."):
        text = without_titles
    tokens = text.split()
    while len(tokens) > 1 and _DEGREE.match(tokens[-1]) and (
        "." in tokens[-1] or len(tokens) > 2
    ):
        tokens.pop()
    # Initials glued with dots ("M.Rizki") become separate words.
    tokens = [t for token in tokens for t in token.replace(".", ". ").split()]
    cleaned = [w for w in (_NOT_LETTER.sub("", t.replace("'", "")) for t in tokens) if w]
    words: list[str] = []
    for position, word in enumerate(cleaned):
        leading = position == 0 and len(cleaned) > 1  # an initial before a name
        if word in _MUHAMMAD or (word == "M" and leading):
            words.append("MUHAMAD")
        elif word == "ST" and leading:  # "St. Aminah": Sitti
            words.append("SITI")
        else:
            word = _OLD_SPELLING.sub(lambda m: _OLD_TO_NEW[m.group(0)], word)
            words.append(_REPEATS.sub(r"\1", word))
    return " ".join(words)


def name_key(raw: str | None) -> str:
    """The normalised name without spaces: "Nur Hayati" and "Nurhayati" share a key."""
    return normalize_name(raw).replace(" ", "")
