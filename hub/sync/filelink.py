"""`slrt-hub link`: the hub's matching engine on any list an office was given.

Reads CSV (any common delimiter, stray spaces after separators, a byte-order mark) or
XLSX; a field mapping names which column holds what (`name=nama`, `birth_date=tgl_lahir`,
`id=nik`; `name=depan+belakang` joins columns). With one file it finds duplicates within
it, with two it links them; every pair above the threshold is written with its match
probability and the per-field evidence.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.domain.dates import parse_any_date
from hub.domain.matchkeys import (
    NEIGHBOURHOOD_COLUMNS,
    initials,
    neighbourhoods,
    phonetic_of_normalized,
    sorted_words,
)
from hub.domain.names import normalize_name
from hub.domain.nik import nik_problem
from hub.sync.extras import require_linkage

if TYPE_CHECKING:
    from hub.sync.scoring import Prediction

ROLES = {
    "key": "a row identifier to write in the output (default: the row number)",
    "name": "full name", "first_name": "given name", "last_name": "family name",
    "birth_date": "birth date, any common format", "sex": "sex (L/P, M/F, 1/2, ...)",
    "id": "an identity number (NIK or any other)", "kk": "family card (KK) number",
    "region": "a region code (village, district ...)", "address": "address",
    "postcode": "postcode", "city": "city or place", "phone": "phone number",
}
_SEX = {"l": "M", "m": "M", "1": "M", "laki-laki": "M", "laki": "M", "male": "M",
        "pria": "M", "p": "F", "f": "F", "2": "F", "perempuan": "F", "wanita": "F",
        "female": "F", "w": "F"}


class LinkInputError(ValueError):
    """The files or the mapping cannot be used; the message says which and why."""


@dataclass
class Table:
    path: Path
    columns: list[str]
    rows: list[dict[str, Any]]


def _clean_header(columns: Iterable[Any]) -> list[str]:
    return [str(c).strip() if c is not None else "" for c in columns]


def read_table(path: Path) -> Table:
    if not path.exists():
        raise LinkInputError(f"{path}: no such file")
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        book = load_workbook(path, read_only=True, data_only=True)
        rows_iter = book.worksheets[0].iter_rows(values_only=True)
        header = _clean_header(next(rows_iter, ()))
        if not any(header):
            book.close()
            raise LinkInputError(f"{path}: the first sheet is empty (no header, no rows)")
        rows = [dict(zip(header, row, strict=False)) for row in rows_iter
                if any(cell not in (None, "") for cell in row)]
        book.close()
        return Table(path, header, rows)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    try:
        dialect: Any = csv.Sniffer().sniff(text[:20_000], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    if not text.strip():
        raise LinkInputError(f"{path}: the file is empty (no header, no rows)")
    reader = csv.reader(io.StringIO(text), dialect, skipinitialspace=True)
    header = _clean_header(next(reader, []))
    rows = [dict(zip(header, (cell.strip() for cell in row), strict=False))
            for row in reader if any(cell.strip() for cell in row)]
    return Table(path, header, rows)


@dataclass
class FieldMap:
    """Role -> the columns holding it, per file (files may name them differently)."""

    columns: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def parse(cls, specs: Sequence[str], tables: Sequence[Table]) -> list[FieldMap]:
        """One map per table. `name=nama` names the column in every file (matched
        without regard to case), `name=Nama:nama_lengkap` names it per file."""
        per_table: list[dict[str, list[str]]] = [{} for _ in tables]
        for spec in specs:
            role, sep, columns = spec.partition("=")
            role = role.strip()
            if not sep or not columns.strip():
                raise LinkInputError(f"--field {spec!r}: write ROLE=COLUMN, e.g. name=nama")
            if role not in ROLES:
                raise LinkInputError(f"--field {spec!r}: unknown role {role!r}; roles: "
                                     + ", ".join(ROLES))
            choices = columns.split(":") if ":" in columns else [columns] * len(tables)
            if len(choices) != len(tables):
                raise LinkInputError(f"--field {spec!r}: give one column per file "
                                     f"({len(tables)}), separated by ':'")
            for i, (table, choice) in enumerate(zip(tables, choices, strict=True)):
                per_table[i][role] = [_column(table, c.strip(), role)
                                      for c in choice.split("+")]
        if not ({"name", "first_name", "last_name"} & per_table[0].keys()):
            raise LinkInputError("map at least a name: --field name=COLUMN")
        return [cls(mapping) for mapping in per_table]

    def value(self, row: dict[str, Any], role: str) -> Any:
        columns = self.columns.get(role)
        if not columns:
            return None
        parts = [row.get(c) for c in columns]
        if len(parts) == 1:
            return parts[0] if parts[0] not in ("", None) else None
        text = " ".join(str(p).strip() for p in parts if p not in ("", None))
        return text or None


def _column(table: Table, wanted: str, role: str) -> str:
    if wanted in table.columns:
        return wanted
    folded = [c for c in table.columns if c.casefold() == wanted.casefold()]
    if len(folded) == 1:
        return folded[0]
    raise LinkInputError(f"{table.path.name} has no column {wanted!r} (for {role}); "
                         f"its columns: {', '.join(table.columns)}")


@dataclass
class Prepared:
    rows: list[dict[str, Any]]
    keys: list[str]
    unparsed_dates: int = 0


def _digits(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = "".join(ch for ch in str(value) if ch.isalnum())
    return text or None


def _region(value: Any) -> tuple[str | None, str | None, str | None]:
    text = str(value).strip() if value not in (None, "") else ""
    if not text:
        return None, None, None
    parts = text.split(".") if "." in text else None
    if parts is None and text.isdigit() and len(text) in (4, 6, 10):
        parts = [text[:2], text[2:4], text[4:6], text[6:]][: {4: 2, 6: 3, 10: 4}[len(text)]]
    if not parts:
        return text, None, None
    dotted = ".".join(parts)
    return dotted, ".".join(parts[:3]) if len(parts) >= 3 else None, ".".join(parts[:2])


def prepare(table: Table, mapping: FieldMap, first_id: int, *, day_first: bool) -> Prepared:
    rows: list[dict[str, Any]] = []
    keys: list[str] = []
    unparsed = 0
    # Only the columns this mapping compares or blocks on: a row dict of a 200k-row
    # file costs a kilobyte, and each unused key makes it larger (the engine reads an
    # absent key as null).
    kept = _columns(mapping) | {"unique_id", "tf_name_norm"}
    for index, row in enumerate(table.rows, start=1):
        name = mapping.value(row, "name")
        if name is None:
            name = " ".join(str(v) for v in (mapping.value(row, "first_name"),
                                             mapping.value(row, "last_name")) if v)
        name_norm = normalize_name(str(name) if name else "")
        given = normalize_name(str(mapping.value(row, "first_name") or ""))
        surname = normalize_name(str(mapping.value(row, "last_name") or ""))
        raw_date = mapping.value(row, "birth_date")
        born = parse_any_date(raw_date, day_first=day_first)
        if raw_date not in (None, "") and born is None:
            unparsed += 1
        ident = _digits(mapping.value(row, "id"))
        village, district, regency = _region(mapping.value(row, "region"))
        sex = mapping.value(row, "sex")
        out: dict[str, Any] = {
            "unique_id": first_id + index - 1, "name_norm": name_norm,
            "name_key": phonetic_of_normalized(name_norm),
            "first_name": name_norm.split()[0] if name_norm else None,
            "birth_date": born.isoformat() if born else None,
            "birth_year": born.year if born else None,
            "sex": _SEX.get(str(sex).strip().lower()) if sex not in (None, "") else None,
            "nik": ident,
            "nik12": ident[:12] if ident and len(ident) == 16 and not nik_problem(ident)
            else None,
            "kk": _digits(mapping.value(row, "kk")),
            "village_code": village, "district_code": district, "regency_code": regency,
            "tf_name_norm": 0.0,
            "given_key": phonetic_of_normalized(given) if given else None,
            "surname_key": phonetic_of_normalized(surname) if surname else None,
            "initials": initials(name_norm),
            "name_sorted": sorted_words(name_norm) or None,
        }
        for role in ("address", "postcode", "city", "phone"):
            value = mapping.value(row, role)
            out[role] = " ".join(str(value).upper().split()) if value not in (None, "") \
                else None
        rows.append({column: value for column, value in out.items() if column in kept})
        key = mapping.value(row, "key")
        keys.append(str(key) if key not in (None, "") else str(index))
    return Prepared(rows, keys, unparsed)


def _columns(mapping: FieldMap) -> set[str]:
    roles = mapping.columns.keys()
    columns = {"name_norm", "name_key", "first_name", "initials", "name_sorted",
               *NEIGHBOURHOOD_COLUMNS}
    if "birth_date" in roles:
        columns |= {"birth_date", "birth_year"}
    if "sex" in roles:
        columns.add("sex")
    if "id" in roles:
        columns |= {"nik", "nik12"}
    if "kk" in roles:
        columns.add("kk")
    if "region" in roles:
        columns |= {"village_code", "district_code", "regency_code"}
    columns |= {role for role in ("address", "postcode", "city", "phone") if role in roles}
    if {"first_name", "last_name"} <= roles:
        columns |= {"given_key", "surname_key"}
    return columns


# A rule on one broad key (a birth date alone, an address alone) finds the pairs whose
# names were both mistyped; it runs only where it forms at most this many pairs per
# record in all (counted before it runs): a small office list affords it, a registry not.
PAIR_BUDGET = 25
BROAD_KEYS: tuple[tuple[str, ...], ...] = (
    ("birth_date",), ("address",), ("postcode", "birth_year"), ("phone",),
    ("postcode", "initials"), ("city", "initials"))


def pairs_of(keys: tuple[str, ...], rows: Sequence[dict[str, Any]],
             others: Sequence[dict[str, Any]] | None = None) -> int:
    """How many pairs a rule blocking on `keys` forms: within `rows` (dedupe), or
    between `rows` and `others` (link). Pure, so a rule can be weighed before it runs."""
    def counts(data: Sequence[dict[str, Any]]) -> Counter[tuple[Any, ...]]:
        found: Counter[tuple[Any, ...]] = Counter()
        for row in data:
            value = tuple(row.get(k) for k in keys)
            if None not in value:
                found[value] += 1
        return found

    left = counts(rows)
    if others is None:
        return sum(n * (n - 1) // 2 for n in left.values())
    right = counts(others)
    return sum(n * right[value] for value, n in left.items() if value in right)


def broad_rules(columns: set[str], rows: list[dict[str, Any]],
                others: list[dict[str, Any]] | None, *, budget: int) -> list[tuple[str, ...]]:
    """The broad rules whose pairs, counted on these rows, fit the budget together."""
    chosen: list[tuple[str, ...]] = []
    spent = 0
    for keys in BROAD_KEYS:
        if not set(keys) <= columns:
            continue
        pairs = pairs_of(keys, rows, others)
        if spent + pairs <= budget:
            chosen.append(keys)
            spent += pairs
    return chosen


@dataclass
class LinkResult:
    pairs: list[Prediction]
    keys: dict[int, tuple[str, str]]  # unique id -> (file label, row key)
    counts: dict[str, int]
    comparisons: list[str]
    clusters: dict[int, list[int]] = field(default_factory=dict)  # number -> unique ids
    # Each blocking rule, and the pairs above the threshold it was the first to find.
    rules: list[tuple[str, int]] = field(default_factory=list)


def link_files(left: Table, right: Table | None, mappings: Sequence[FieldMap], *,
               threshold: float, day_first: bool = True, clusters: bool = False,
               scorer: Any = None) -> LinkResult:
    """Duplicates within `left`, or links between `left` and `right`; with `clusters`,
    the records grouped as reconciliation groups them (constrained connected
    components of the pairs above the threshold). A `scorer` (`hub.sync.spark`) blocks
    and scores elsewhere; training and the rest stay here."""
    require_linkage()
    from hub.sync.scoring import LinkageEngine

    mapping = mappings[0]
    a = prepare(left, mapping, 1, day_first=day_first)
    b = (prepare(right, mappings[-1], len(a.rows) + 1, day_first=day_first)
         if right else None)
    everything = a.rows + (b.rows if b else [])
    if not a.rows or (b is not None and not b.rows):
        empty = left if not a.rows else right
        raise LinkInputError(f"{empty.path.name if empty else 'the file'} has a header but "
                             "no rows: nothing to link")
    names: dict[str, int] = {}
    for row in everything:
        names[row["name_norm"]] = names.get(row["name_norm"], 0) + 1
    for row in everything:
        row["tf_name_norm"] = names[row["name_norm"]] / len(everything)
    neighbourhoods(everything)
    columns = _columns(mapping)
    wide = broad_rules(columns, a.rows, b.rows if b else None, budget=PAIR_BUDGET
                       * len(everything))
    engine = LinkageEngine(columns, wide=wide, scorer=scorer)
    try:
        engine.train(everything)
        if b is None:
            pairs = engine.predict(a.rows, threshold=threshold)
        else:
            pairs = engine.predict_between(a.rows, b.rows, threshold=threshold)
        corroborated = _corroborated(engine, a, b) if "nik" in columns else set()
        explained = [(rule, engine.found_by[i]) for i, rule in enumerate(engine.rules())]
    finally:
        engine.close()
    pairs = _with_identifiers(pairs, corroborated)
    keys = {row["unique_id"]: ("left", key) for row, key in zip(a.rows, a.keys, strict=True)}
    if b is not None:
        keys |= {row["unique_id"]: ("right", key) for row, key in zip(b.rows, b.keys,
                                                                      strict=True)}
    pairs.sort(key=lambda p: -p.probability)
    counts = {"left_rows": len(a.rows), "right_rows": len(b.rows) if b else 0,
              "broad_rules": len(wide), "unparsed_dates": a.unparsed_dates
              + (b.unparsed_dates if b else 0), "pairs": len(pairs),
              "pairs_at_0.99": sum(p.probability >= 0.99 for p in pairs),
              "same_identifier": len(corroborated)}
    comparisons = sorted({name for p in pairs for name in p.evidence})
    grouped = _clusters(keys, pairs, threshold) if clusters else {}
    if clusters:
        counts["clusters"] = len(grouped)
        counts["records_in_groups"] = sum(len(m) for m in grouped.values() if len(m) > 1)
    return LinkResult(pairs, keys, counts, comparisons, grouped, explained)


def _corroborated(engine: Any, a: Prepared, b: Prepared | None) -> set[tuple[int, int]]:
    """Pairs that carry the same identifier and agree on the name or the birth date:
    linked outright, as reconciliation links a corroborated NIK."""
    found, _ = engine.nik_pairs(a.rows, b.rows if b else None)
    if b is None:
        return set(found)
    left = {row["unique_id"] for row in a.rows}
    return {(x, y) if x in left else (y, x) for x, y in found if (x in left) != (y in left)}


def _with_identifiers(pairs: list[Prediction], corroborated: set[tuple[int, int]]
                      ) -> list[Prediction]:
    from hub.sync.scoring import Prediction

    by_pair = {(min(p.left, p.right), max(p.left, p.right)): p for p in pairs}
    for x, y in corroborated:
        known = by_pair.get((min(x, y), max(x, y)))
        evidence = {"identifier": {"level": "same identifier, corroborated", "weight": None}}
        if known is None:
            pairs.append(Prediction(x, y, 1.0, math.inf, evidence))
        else:
            known.probability = 1.0
            known.evidence = {**known.evidence, **evidence}
    return pairs


def _clusters(keys: dict[int, tuple[str, str]], pairs: Sequence[Prediction],
              threshold: float) -> dict[int, list[int]]:
    from hub.sync.clustering import Edge, cluster

    assignment = cluster(keys, {}, {}, [
        Edge(p.left, p.right, p.probability, "NIK" if p.probability >= 1.0 else
             "PROBABILISTIC") for p in pairs], threshold=threshold, unique_sources=())
    grouped: dict[int, list[int]] = {}
    for record, number in assignment.new_cluster.items():
        grouped.setdefault(number, []).append(record)
    return grouped


def write_clusters(result: LinkResult, out: Path) -> None:
    """One row per record: its file, its key, its cluster (a number per group)."""
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "key", "cluster", "cluster_size"])
        for number, members in sorted(result.clusters.items()):
            for record in sorted(members):
                side, key = result.keys[record]
                writer.writerow([side, key, number, len(members)])


def write_pairs(result: LinkResult, out: Path) -> None:
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["left", "right", "match_probability", "match_weight",
                         *(f"{c}_{part}" for c in result.comparisons
                           for part in ("level", "weight"))])
        for p in result.pairs:
            evidence = [value for c in result.comparisons for value in (
                p.evidence.get(c, {}).get("level"), p.evidence.get(c, {}).get("weight"))]
            writer.writerow([result.keys[p.left][1], result.keys[p.right][1],
                             f"{p.probability:.6f}", f"{p.weight:.3f}", *evidence])
