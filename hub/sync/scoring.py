"""Probabilistic record linkage: a Fellegi-Sunter model built on Splink's DuckDB backend.

Splink does the heavy parts (blocking, EM for the m-probabilities, random sampling for
the u-probabilities, scoring in SQL); what is ours are the comparison levels that fit
Indonesian records and the blocking rules. The same engine serves the sync jobs (records
with the hub's full feature set) and `slrt-hub link` (whatever columns a user maps), so
comparisons and blocking rules are built from the columns at hand.

Spark is the path for a national run: the settings built here are backend-neutral SQL.
"""

from __future__ import annotations

import logging
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pyarrow as pa
from splink import DuckDBAPI, Linker, SettingsCreator, block_on
from splink import comparison_library as cl
from splink.internals.comparison_level_library import CustomLevel, ElseLevel, NullLevel

from hub.domain.matchkeys import NEIGHBOURHOOD_COLUMNS

# Splink warns about every level EM could not train (e.g. no two regencies in a
# one-district registry); those are expected here and would drown the progress output.
logging.getLogger("splink").setLevel(logging.ERROR)

# Columns the engine knows, with their DuckDB types. `unique_id` is the record's id.
COLUMN_TYPES: dict[str, pa.DataType] = {
    "unique_id": pa.int64(),
    "name_norm": pa.string(),
    "name_key": pa.string(),
    "first_name": pa.string(),
    "tf_name_norm": pa.float64(),
    "birth_date": pa.string(),
    "birth_year": pa.int32(),
    "sex": pa.string(),
    "nik": pa.string(),
    "nik12": pa.string(),
    "kk": pa.string(),
    "relatives": pa.string(),  # hub.domain.relatives: name keys, space-separated
    "village_code": pa.string(),
    "district_code": pa.string(),
    "regency_code": pa.string(),
    "address": pa.string(),
    "postcode": pa.string(),
    "city": pa.string(),
    "phone": pa.string(),
    # Name parts, where a list keeps them apart (`slrt-hub link`): their sound keys.
    "given_key": pa.string(),
    "surname_key": pa.string(),
    "initials": pa.string(),  # first letters of the first and last words, sorted
    "name_sorted": pa.string(),  # the name's words in alphabetical order
    # Sorted-neighbourhood windows (hub.sync.filelink.neighbourhoods): block, never compare.
    "sn_words": pa.int64(),
    "sn_words_half": pa.int64(),
    "sn_reversed": pa.int64(),
    "sn_reversed_half": pa.int64(),
}
FREE_TEXT = ("address", "postcode", "city", "phone")


@dataclass(frozen=True)
class Dialect:
    """The few SQL functions whose names differ between the backends a model is scored
    on. Everything else in the comparisons (substr, length, abs, contains) is spelt
    alike; "one edit apart" is DuckDB's function there and an expression in Spark's
    own functions here (`_one_edit_in_spark`). On Spark, Jaro-Winkler is the hub's own
    function (`hub.sync.spark`): Spark's built-in `jaro_winkler_similarity` and the one
    in Splink's jar are other variants, each disagreeing with DuckDB's on some name
    pairs in a hundred, enough to move pairs across a threshold."""

    name: str
    ends_with: str
    overlaps: str
    similarity: str
    # "At most one edit apart" with {l} and {r} for the two sides.
    one_edit: str

    def jaro_winkler(self, left: str, right: str) -> str:
        return f"{self.similarity}({left}, {right})"

    def within_one_edit(self, left: str, right: str) -> str:
        return self.one_edit.format(l=left, r=right)

    def suffix(self, text: str, end: str) -> str:
        return f"{self.ends_with}({text}, {end})"

    def any_in_common(self, left: str, right: str) -> str:
        return f"{self.overlaps}({left}, {right})"


def _one_edit_in_spark() -> str:
    """DuckDB's `damerau_levenshtein(l, r) <= 1` in Spark's own functions.

    Splink's jar has a Damerau-Levenshtein, but it counts characters where DuckDB
    counts UTF-8 bytes ("é" and "e" are two edits apart in DuckDB): on 4,000 generated
    pairs it disagreed with DuckDB on 272, each with an accented letter and each a
    level of evidence that differed between the backends. At a distance of at most
    one, every variant of the metric agrees: one substitution, insertion or deletion
    (Spark's native `levenshtein`), or one swap of neighbours (then Levenshtein counts
    two; the swap is looked for only there). Both run on the bytes read as Latin-1,
    one byte a character, as DuckDB counts."""
    left, right = ("decode(encode({l}, 'UTF-8'), 'ISO-8859-1')",
                   "decode(encode({r}, 'UTF-8'), 'ISO-8859-1')")
    distance = f"levenshtein({left}, {right})"
    swapped = (f"substr({left}, 1, i - 1) = substr({right}, 1, i - 1)"
               f" AND substr({left}, i, 1) = substr({right}, i + 1, 1)"
               f" AND substr({left}, i + 1, 1) = substr({right}, i, 1)"
               f" AND substr({left}, i + 2) = substr({right}, i + 2)")
    return (f"({distance} <= 1 OR ({distance} = 2 AND length({left}) = length({right})"
            f" AND exists(sequence(1, length({left}) - 1), i -> {swapped})))")


DUCKDB = Dialect("duckdb", ends_with="suffix", overlaps="list_has_any",
                 similarity="jaro_winkler_similarity",
                 one_edit="damerau_levenshtein({l}, {r}) <= 1")
SPARK = Dialect("spark", ends_with="endswith", overlaps="arrays_overlap",
                similarity="hub_jaro_winkler", one_edit=_one_edit_in_spark())
DIALECTS = {d.name: d for d in (DUCKDB, SPARK)}


def _name_comparison(columns: frozenset[str], dialect: Dialect) -> cl.CustomComparison:
    lhs, rhs = "name_norm_l", "name_norm_r"
    swapped: list[Any] = []
    if "name_sorted" in columns:
        # "Aminah Siti" for "Siti Aminah": a list whose clerk wrote the family or
        # father's name first (`slrt-hub link` supplies the name's words sorted).
        # Reconciliation's agencies keep the name whole and in order; there the level
        # cost a fifth of the scoring throughput at a million persons for no link.
        swapped.append(CustomLevel("name_sorted_l = name_sorted_r", "same words, other order"))
    return cl.CustomComparison(
        output_column_name="name",
        comparison_description="normalised name",
        comparison_levels=[
            NullLevel("name_norm"),
            CustomLevel(f"{lhs} = {rhs}", "exact").configure(
                tf_adjustment_column="name_norm", tf_adjustment_weight=1.0
            ),
            CustomLevel("name_key_l = name_key_r", "same sound"),
            *swapped,
            CustomLevel(f"{dialect.jaro_winkler(lhs, rhs)} >= 0.92", "jaro-winkler >= 0.92"),
            CustomLevel(
                "(length(first_name_l) >= 4 AND "
                f"{dialect.suffix('first_name_r', 'first_name_l')}) OR "
                "(length(first_name_r) >= 4 AND "
                f"{dialect.suffix('first_name_l', 'first_name_r')}) OR "
                f"(length({lhs}) >= 4 AND contains({rhs}, {lhs})) OR "
                f"(length({rhs}) >= 4 AND contains({lhs}, {rhs}))",
                "nickname or part of the name",
            ),
            CustomLevel(f"{dialect.jaro_winkler(lhs, rhs)} >= 0.80", "jaro-winkler >= 0.80"),
            ElseLevel(),
        ],
    )


def _birth_date_comparison(dialect: Dialect) -> cl.CustomComparison:
    lhs, rhs = "birth_date_l", "birth_date_r"
    return cl.CustomComparison(
        output_column_name="birth_date",
        comparison_description="birth date",
        comparison_levels=[
            NullLevel("birth_date"),
            CustomLevel(f"{lhs} = {rhs}", "exact"),
            CustomLevel(
                f"substr({lhs}, 1, 4) = substr({rhs}, 1, 4)"
                f" AND substr({lhs}, 6, 2) = substr({rhs}, 9, 2)"
                f" AND substr({lhs}, 9, 2) = substr({rhs}, 6, 2)",
                "day and month swapped",
            ),
            CustomLevel(dialect.within_one_edit(lhs, rhs), "one digit apart"),
            CustomLevel(f"substr({lhs}, 6, 5) = substr({rhs}, 6, 5)", "same day, other year"),
            CustomLevel("abs(birth_year_l - birth_year_r) <= 1", "year within one"),
            ElseLevel(),
        ],
    )


def _exact(column: str, description: str, *, near: str | None = None) -> cl.CustomComparison:
    lhs, rhs = f"{column}_l", f"{column}_r"
    levels: list[Any] = [NullLevel(column), CustomLevel(f"{lhs} = {rhs}", "exact")]
    if near:
        levels.append(CustomLevel(near, "near"))
    levels.append(ElseLevel())
    return cl.CustomComparison(
        output_column_name=column, comparison_description=description, comparison_levels=levels
    )


def _family_comparison(dialect: Dialect) -> cl.CustomComparison:
    """The KK number, and where it does not settle it (one side has none, or they
    differ: a KK is copied by hand as often as a NIK) the relatives in each record's
    family. One comparison, not two: for records with one KK, the relatives agree
    because the KK does, and two fields would count that twice."""
    common = dialect.any_in_common("relatives_l", "relatives_r")  # lists: see `load`
    return cl.CustomComparison(
        output_column_name="kk",
        comparison_description="family card (KK) and relatives",
        comparison_levels=[
            CustomLevel(f"(kk_l IS NULL OR kk_r IS NULL) AND NOT coalesce({common}, false)",
                        "unknown").configure(is_null_level=True),
            CustomLevel("kk_l = kk_r", "exact"),
            CustomLevel(common, "a relative in common"),
            ElseLevel(),
        ],
    )


def _region_comparison(columns: frozenset[str]) -> cl.CustomComparison:
    present = [c for c in ("village_code", "district_code", "regency_code") if c in columns]
    unknown = " AND ".join(f"({c}_l IS NULL OR {c}_r IS NULL)" for c in present)
    levels: list[Any] = [CustomLevel(unknown, "unknown").configure(is_null_level=True)]
    for column, label in (("village_code", "same village"), ("district_code", "same district"),
                          ("regency_code", "same regency")):
        if column in columns:
            levels.append(CustomLevel(f"{column}_l = {column}_r", label))
    levels.append(ElseLevel())
    return cl.CustomComparison(
        output_column_name="region", comparison_description="region of residence",
        comparison_levels=levels,
    )


def _free_text(column: str, dialect: Dialect) -> cl.CustomComparison:
    lhs, rhs = f"{column}_l", f"{column}_r"
    return cl.CustomComparison(
        output_column_name=column, comparison_description=column,
        comparison_levels=[
            NullLevel(column),
            CustomLevel(f"{lhs} = {rhs}", "exact"),
            CustomLevel(dialect.within_one_edit(lhs, rhs), "one edit apart"),
            CustomLevel(f"{dialect.jaro_winkler(lhs, rhs)} >= 0.88", "jaro-winkler >= 0.88"),
            ElseLevel(),
        ],
    )


def comparisons(columns: frozenset[str], dialect: Dialect = DUCKDB
                ) -> list[cl.CustomComparison]:
    """The comparisons for the columns present; a missing column is simply not compared."""
    out = [_name_comparison(columns, dialect)]
    if "birth_date" in columns:
        out.append(_birth_date_comparison(dialect))
    if "sex" in columns:
        out.append(_exact("sex", "sex"))
    if "nik" in columns:
        # One edit apart is a typo in an identity number with no structure. A NIK has
        # one: serials run in sequence per kecamatan and birth date, so neighbours born
        # on one day hold 0001 and 0002 (scored "near" they made 98% of review tasks).
        # One digit apart counts for a NIK only when the names agree too; with other
        # names it is neighbours, and falls to the else level.
        near = dialect.within_one_edit("nik_l", "nik_r")
        if "nik12" in columns:
            near = ("(nik12_l = nik12_r OR nik12_l IS NULL OR nik12_r IS NULL) AND "
                    f"{near} AND {dialect.jaro_winkler('name_norm_l', 'name_norm_r')} >= 0.88")
        out.append(_exact("nik", "identity number", near=near))
    if "kk" in columns:
        out.append(_family_comparison(dialect) if "relatives" in columns
                   else _exact("kk", "family card (KK)"))
    if columns & {"village_code", "district_code", "regency_code"}:
        out.append(_region_comparison(columns))
    out.extend(_free_text(column, dialect) for column in FREE_TEXT if column in columns)
    return out


Keys = tuple[str, ...]


def blocking_rules(columns: frozenset[str], wide: Sequence[Keys] = ()) -> list[Any]:
    """OR-ed blocking rules: a pair is scored if any of them puts it in one block.

    Every rule keeps its blocks local or small, because a block's pairs grow with the
    square of its size. Sound key + birth year is scoped to the kecamatan: registry-wide,
    a common name's block grows with the population (at a million persons it formed
    142 million pairs, two thirds of all, for a rule that adds few links to the others)."""
    if "birth_year" not in columns:
        name_rule = block_on("name_key")
    elif "district_code" in columns:
        name_rule = block_on("name_key", "birth_year", "district_code")
    else:
        name_rule = block_on("name_key", "birth_year")
    rules: list[Any] = [name_rule]
    if "nik12" in columns:
        rules.append(block_on("nik12"))
    if "nik" in columns and "given_key" in columns:
        # A list's identifier need not be a NIK (nik12 is empty then): exact, as it is.
        rules.append(block_on("nik"))
    elif "nik" in columns and "nik12" not in columns:
        rules.append(block_on("nik"))
    if "kk" in columns:
        # Within one KK, the birth year: a family's records paired with each other
        # were 40% of all pairs at 100,000 persons, nearly all of them two relatives.
        rules.append(block_on("kk", "birth_year") if "birth_year" in columns
                     else block_on("kk"))
    if "village_code" in columns:
        rules.append(block_on("name_key", "village_code"))
        if "birth_date" in columns:
            rules.append(block_on("village_code", "birth_date"))
    if "birth_date" in columns:
        rules.append(block_on("birth_date", "first_name"))
    if "postcode" in columns:
        rules.append(block_on("postcode", "first_name"))
    rules.extend(_name_part_rules(columns))
    # The fuzzy rule for names: neighbours in name order, a bounded number per record.
    rules.extend(block_on(column) for column in NEIGHBOURHOOD_COLUMNS if column in columns)
    # Rules on one broad key (a birth date, an address), where the caller counted their
    # pairs and found them within its budget (`hub.sync.filelink.broad_rules`).
    rules.extend(block_on(*keys) for keys in wide)
    return rules


def _name_part_rules(columns: frozenset[str]) -> list[Any]:
    """Where names come in parts (given name, surname), each part by its sound key
    crossed with a part of the birth date, the two parts together, the parts swapped
    (a clerk who wrote the surname first), and the place with either part: a typo in
    one part, or in the date, still leaves a rule that brings the pair together."""
    if not {"given_key", "surname_key"} <= columns:
        return []
    rules: list[Any] = [block_on("given_key", "surname_key")]
    if "birth_year" in columns:
        rules += [block_on("given_key", "birth_year"), block_on("surname_key", "birth_year")]
    if "birth_date" in columns:
        rules += [block_on("surname_key", "birth_date"), block_on("given_key", "birth_date")]
    rules.append("l.given_key = r.surname_key AND l.surname_key = r.given_key")
    if "postcode" in columns:
        rules += [block_on("postcode", "surname_key"), block_on("postcode", "given_key")]
    if "city" in columns:
        rules += [block_on("city", "surname_key"), block_on("city", "given_key")]
    return rules


def settings(columns: frozenset[str], prior: float = 1e-4,
             wide: Sequence[Keys] = (), dialect: Dialect = DUCKDB) -> SettingsCreator:
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=comparisons(columns, dialect),
        blocking_rules_to_generate_predictions=blocking_rules(columns, wide),
        probability_two_random_records_match=prior,
        retain_matching_columns=True,
        retain_intermediate_calculation_columns=True,
        max_iterations=20,
    )


def design(model: dict[str, Any]) -> list[Any]:
    """What a model compares and how (each comparison's level conditions, the blocking
    rules), without what training learnt: a saved model of another design is stale."""
    return [
        [(c["output_column_name"], [lv["sql_condition"] for lv in c["comparison_levels"]])
         for c in model["comparisons"]],
        sorted(str(r.get("blocking_rule", r) if isinstance(r, dict) else r)
               for r in model.get("blocking_rules_to_generate_predictions", [])),
    ]


def current_design(columns: Iterable[str]) -> list[Any]:
    return design(settings(frozenset(columns) - {"unique_id", "tf_name_norm"})
                  .create_settings_dict("duckdb"))


def _deterministic_rules(columns: frozenset[str]) -> list[Any]:
    """Rules strict enough that nearly every pair they return is a match: they set the
    prior (the share of matching pairs)."""
    rules: list[Any] = []
    if {"nik", "birth_date"} <= columns:
        rules.append(block_on("nik", "birth_date"))
    if "birth_date" in columns:
        rules.append(block_on("name_norm", "birth_date"))
    if "nik" in columns:
        rules.append(block_on("nik", "name_norm"))
    return rules or [block_on("name_norm")]


def _training_blocks(columns: frozenset[str]) -> list[Any]:
    """EM sessions: each blocks on some columns and so learns the others. An identity
    number block is nearly all matches, so it teaches what a match's name looks like."""
    sessions: list[Any] = []
    if "nik" in columns:
        sessions.append(block_on("nik"))
    elif "birth_date" in columns:
        sessions.append(block_on("birth_date"))
    sessions.append(block_on("name_key", "birth_year") if "birth_year" in columns
                    else block_on("name_key"))
    return sessions


# No field may veto a match on its own: EM on clean data can learn that, say, a match
# never has two different birth dates (m ~ 1e-17, a weight of -55). Real registries do.
M_FLOOR = 1e-3


def _prior_levels(levels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Neutral m and u for a comparison training could not estimate (a file of a few
    rows): its strongest level strongly for a match, its else level against, the levels
    between in between. A tiny list still links two identical rows."""
    scored = [level for level in levels if not level.get("is_null_level")]
    middle = max(len(scored) - 2, 0)
    m = [0.90, *([0.09 / middle] * middle), 0.01] if middle else [0.99, 0.01]
    u = [0.002, *([0.02 / middle] * middle), 0.978] if middle else [0.01, 0.99]
    for level, m_value, u_value in zip(scored, m, u, strict=False):
        level.setdefault("m_probability", m_value)
        level.setdefault("u_probability", u_value)
    return levels


def _complete(trained: dict[str, Any], designed: dict[str, Any]) -> dict[str, Any]:
    """The trained model with every comparison of the design: an EM session that
    failed on too little data can leave the linker without some (or all) of them, and a
    model without comparisons cannot score. What training estimated is kept; what it
    did not gets neutral priors."""
    by_name = {c["output_column_name"]: c for c in trained.get("comparisons", [])}
    complete = []
    for comparison in designed["comparisons"]:
        found = by_name.get(comparison["output_column_name"])
        if found is None:
            found = {**comparison, "comparison_levels": _prior_levels(
                [dict(level) for level in comparison["comparison_levels"]])}
        complete.append(found)
    return {**designed, **trained, "comparisons": complete}


def _sane(model: dict[str, Any]) -> dict[str, Any]:
    """Keep a model trained on too little data usable: a prior of 0 or 1 (a tiny file
    where the strict rules found every pair, or none) has no log-odds."""
    prior = model.get("probability_two_random_records_match") or 0.0
    if not 1e-9 <= prior <= 0.5:
        model["probability_two_random_records_match"] = min(max(prior, 1e-9), 0.5)
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            m = level.get("m_probability")
            if m is not None and m < M_FLOOR:
                level["m_probability"] = M_FLOOR
    return model


@dataclass
class Prediction:
    left: int
    right: int
    probability: float
    weight: float
    evidence: dict[str, Any] = field(default_factory=dict)


Input = Sequence[dict[str, Any]] | pa.Table | str
TRAINING_SAMPLE = 600_000
MIN_TRAINING_RECORDS = 100  # below this a file is scored with the neutral priors


def schema_for(columns: Iterable[str]) -> pa.Schema:
    """The Arrow schema of linkage input with these comparison columns."""
    names = ["unique_id", *sorted(set(columns) - {"unique_id", "tf_name_norm"}),
             "tf_name_norm"]
    return pa.schema([(n, COLUMN_TYPES[n]) for n in names])
Edge = tuple[int, int, float]

# The same rule as hub.domain.matchkeys.corroborated, in SQL (tests hold them equal).
CORROBORATED_SQL = ("(l.birth_date = r.birth_date OR l.name_key = r.name_key "
                    "OR jaro_winkler_similarity(l.name_norm, r.name_norm) >= 0.88)")


class Scorer(Protocol):
    """Blocks and scores elsewhere (`hub.sync.spark.SparkScorer`): reads the engine's
    tables as Parquet, writes the scored pairs above the threshold as Parquet."""

    def export_directory(self) -> Path: ...

    def score(self, model: dict[str, Any], designed: dict[str, Any], left: Path,
              right: Path | None, frequencies: Path, *, threshold: float,
              within: bool) -> list[Path]: ...

    def close(self) -> None: ...


class LinkageEngine:
    """One DuckDB database in memory holding the records of one run. Inputs are lists
    of row dicts or Arrow tables (columnar: a million records cost megabytes, not the
    gigabytes Python dicts would). With a `scorer`, blocking and scoring run there and
    the rest (loading, training, identifier pairs, evidence) here."""

    def __init__(self, columns: Iterable[str], model: dict[str, Any] | None = None, *,
                 memory_limit: str = "2GB", wide: Sequence[Keys] = (),
                 scorer: Scorer | None = None) -> None:
        self.columns = frozenset(columns) - {"unique_id", "tf_name_norm"}
        self.wide = tuple(wide)
        self.scorer = scorer
        # Pairs above the threshold by the blocking rule that first found them.
        self.found_by: Counter[int] = Counter()
        if "name_norm" not in self.columns:
            raise ValueError("linkage needs at least a name")
        self.model = model
        self._con = duckdb.connect()
        self._sql("SET preserve_insertion_order = false")
        # Bounded memory: past this DuckDB spills joins and sorts to disk.
        self._sql(f"SET memory_limit = '{memory_limit}'")
        self._sql(f"SET temp_directory = '{tempfile.gettempdir()}/slrt-hub-duckdb'")
        self._sql("CREATE TABLE name_frequencies (name_norm VARCHAR, "
                          "tf_name_norm DOUBLE)")
        self._tables = 0
        self._frames: list[str] = []

    def close(self) -> None:
        self._con.close()
        if self.scorer is not None:
            self.scorer.close()

    def _sql(self, query: str) -> list[tuple[Any, ...]]:
        """Run to completion: DuckDB 2 refuses new work while a result is unread."""
        return self._con.execute(query).fetchall()

    def schema(self) -> pa.Schema:
        return schema_for(self.columns)

    def _as_table(self, data: Sequence[dict[str, Any]] | pa.Table) -> pa.Table:
        if isinstance(data, pa.Table):
            return data
        return pa.Table.from_pylist(list(data), schema=self.schema())

    def load(self, data: Input) -> str:
        """A DuckDB table of the input (without its name frequencies, which go to the
        shared lookup); returns its name. A name passes through: load once, use often."""
        if isinstance(data, str):
            return data
        self._tables += 1
        name = f"records_{self._tables}"
        arrow = self._as_table(data)
        self._con.register(f"{name}_arrow", arrow)
        # Relatives travel as text (as the database keeps them) and are compared as
        # lists: split once per record here, not twice per scored pair.
        lists = (" REPLACE (string_split(relatives, ' ') AS relatives)"
                 if "relatives" in arrow.schema.names else "")
        self._sql(f"CREATE TABLE {name} AS SELECT * EXCLUDE (tf_name_norm){lists} "
                  f"FROM {name}_arrow")
        self._sql(f"INSERT INTO name_frequencies SELECT name_norm, "
                          f"max(tf_name_norm) FROM {name}_arrow GROUP BY name_norm")
        self._con.unregister(f"{name}_arrow")
        return name

    def train(self, data: Input, *, seed: int = 2026,
              sample_size: int = TRAINING_SAMPLE) -> dict[str, Any]:
        """Estimate the model on `data` and keep it; returns the settings JSON to save.
        The same records give the same model, in whatever order they come."""
        api = DuckDBAPI(self._con)
        name = self.load(data)
        records = self._sql(f"SELECT count(*) FROM {name}")[0][0]
        if records > sample_size:
            # Parameters settle long before a million records; EM's passes over the
            # blocked pairs are what grows. The prior keeps its ratio under sampling.
            # The sample is the records whose id hashes lowest: a reservoir sample
            # depends on the order rows arrive in, which a multi-threaded load (and
            # preserve_insertion_order off) does not keep, so two runs on the same
            # records trained different models.
            sample = f"{name}_sample"
            self._sql(f"CREATE TABLE {sample} AS SELECT * FROM {name} "
                      f"ORDER BY hash(unique_id, {int(seed)}), unique_id "
                      f"LIMIT {int(sample_size)}")
            name, records = sample, sample_size
        designed = settings(self.columns, wide=self.wide).create_settings_dict("duckdb")
        if records < MIN_TRAINING_RECORDS:
            # Too few records to estimate anything (EM on a handful of pairs learns
            # that an exact name means nothing): the neutral priors, and a prior
            # probability that each record has its one match among the others.
            self.model = _sane(_complete(
                {"probability_two_random_records_match": 1 / max(records - 1, 1)},
                designed))
            return self.model
        linker = Linker(api.register(name, table_name=name),
                        settings(self.columns, wide=self.wide),
                        log_level=None)
        training = linker.training
        deterministic = _deterministic_rules(self.columns)
        try:
            training.estimate_probability_two_random_records_match(deterministic, recall=0.8)
        except Exception:  # a rule may find no pair in a tiny file
            logging.getLogger(__name__).info("prior left at its default")
        pairs = min(2_000_000, max(10_000, records * 20))
        training.estimate_u_using_random_sampling(max_pairs=pairs, seed=seed)
        for rule in _training_blocks(self.columns):
            try:
                training.estimate_parameters_using_expectation_maximisation(
                    rule, fix_probability_two_random_records_match=True
                )
            except Exception:  # EM may find no pair to learn from
                logging.getLogger(__name__).info("EM session on %s skipped", rule)
        self.model = _sane(_complete(linker.misc.save_model_to_json(), designed))
        return self.model

    def _linker(self, api: DuckDBAPI, table: Any) -> Linker:
        if self.model is None:
            raise RuntimeError("train or load a model before predicting")
        linker = Linker(table, self.model, log_level=None)
        frequencies = "name_frequencies_distinct"
        self._sql(f"CREATE OR REPLACE TABLE {frequencies} AS SELECT name_norm, "
                          "max(tf_name_norm) AS tf_name_norm FROM name_frequencies "
                          "GROUP BY name_norm")
        linker.table_management.register_term_frequency_lookup(
            api.register(frequencies, table_name=f"{frequencies}_{self._tables}"), "name_norm"
        )
        return linker

    def predict_edges(self, rows: Input, others: Input | None = None, *,
                      threshold: float = 0.5, within: bool = True) -> list[Edge]:
        """(left id, right id, probability) of pairs above `threshold`, within `rows`
        (unless not `within`) and between `rows` and `others`. The scored pairs stay in
        DuckDB for `evidence` until `release`."""
        api = DuckDBAPI(self._con)
        left_name = self.load(rows)
        left = api.register(left_name, table_name=left_name)
        right, right_name = None, None
        if others is not None:
            right_name = self.load(others)
            right = api.register(right_name, table_name=right_name)
        linker = self._linker(api, left)
        self._comparisons = linker._settings_obj.comparisons
        if self.scorer is not None:
            frames = self._score_elsewhere(self.scorer, left_name,
                                           right_name,
                                           threshold=threshold, within=within)
        else:
            frames = []
            if within:
                frames.append(linker.inference.predict_within(
                    left, threshold_match_probability=threshold,
                    warning_mode="never").physical_name)
            if right is not None:
                frames.append(linker.inference.predict_between(
                    left, right, threshold_match_probability=threshold,
                    warning_mode="never").physical_name)
        edges: list[Edge] = []
        for frame in frames:
            self._frames.append(frame)
            edges += self._sql(
                f"SELECT least(unique_id_l, unique_id_r), greatest(unique_id_l, unique_id_r),"
                f" match_probability FROM {frame}")
            for key, count in self._sql(f"SELECT match_key, count(*) FROM "
                                        f"{frame} GROUP BY match_key"):
                self.found_by[int(key)] += count
        return edges

    def _score_elsewhere(self, scorer: Scorer, left: str, right: str | None, *,
                         threshold: float, within: bool) -> list[str]:
        """Blocking and scoring by `scorer`, on this run's tables exported as Parquet;
        the scored pairs come back as tables here, as DuckDB's own would be."""
        directory = scorer.export_directory()

        def export(table: str) -> Path:
            path = directory / f"{table}.parquet"
            self._sql(f"COPY {table} TO '{path}' (FORMAT parquet)")
            return path

        designed = settings(self.columns, wide=self.wide,
                            dialect=SPARK).create_settings_dict("spark")
        if self.model is None:
            raise RuntimeError("train or load a model before predicting")
        scored = scorer.score(self.model, designed, export(left),
                              export(right) if right is not None else None,
                              export("name_frequencies_distinct"),
                              threshold=threshold, within=within)
        names = []
        for found in scored:
            self._tables += 1
            name = f"scored_{self._tables}"
            self._sql(f"CREATE TABLE {name} AS SELECT * FROM read_parquet('{found}/*.parquet')")
            names.append(name)
        return names

    def rules(self) -> list[str]:
        """The blocking rules in the order Splink numbers them (`match_key`), as SQL."""
        return [rule if isinstance(rule, str)
                else rule.get_blocking_rule("duckdb").blocking_rule_sql
                for rule in blocking_rules(self.columns, self.wide)]

    def evidence(self, pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], Prediction]:
        """The per-field evidence (comparison level and weight) of scored pairs."""
        pairs = list(pairs)
        wanted = pa.table({"l": pa.array([a for a, _ in pairs], pa.int64()),
                           "r": pa.array([b for _, b in pairs], pa.int64())})
        out: dict[tuple[int, int], Prediction] = {}
        if not self._frames or wanted.num_rows == 0:
            return out
        self._con.register("wanted_pairs", wanted)
        try:
            for frame in self._frames:
                relation = self._con.sql(
                    f"SELECT f.* FROM {frame} f JOIN wanted_pairs w ON "
                    "least(f.unique_id_l, f.unique_id_r) = w.l AND "
                    "greatest(f.unique_id_l, f.unique_id_r) = w.r")
                columns = relation.columns
                for row in relation.fetchall():
                    p = self._prediction(dict(zip(columns, row, strict=True)))
                    out[(p.left, p.right)] = p
        finally:
            self._con.unregister("wanted_pairs")
        return out

    def release(self) -> None:
        for frame in self._frames:
            self._sql(f"DROP TABLE IF EXISTS {frame}")
        self._frames = []

    def nik_pairs(self, pending: Input, existing: Input | None = None
                  ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Same-NIK pairs touching a pending record: corroborated (links) and not
        (conflicts)."""
        tables = [self.load(pending)]
        if existing is not None:
            tables.append(self.load(existing))
        union = " UNION ALL ".join(
            f"SELECT unique_id, nik, name_norm, name_key, birth_date, {i == 0} AS pending "
            f"FROM {t} WHERE nik IS NOT NULL" for i, t in enumerate(tables))
        rows = self._sql(
            f"WITH a AS ({union}) SELECT l.unique_id, r.unique_id, {CORROBORATED_SQL} "
            "FROM a l JOIN a r ON l.nik = r.nik AND l.unique_id < r.unique_id "
            "WHERE l.pending OR r.pending")
        links = [(a, b) for a, b, ok in rows if ok]
        conflicts = [(a, b) for a, b, ok in rows if not ok]
        return links, conflicts

    def predict(self, rows: Input, others: Input | None = None, *,
                threshold: float = 0.5) -> list[Prediction]:
        """Scored pairs with their evidence: within `rows`, and between `rows` and
        `others` when given (never within `others`)."""
        return self._predictions(rows, others, threshold=threshold, within=True)

    def predict_between(self, rows: Input, others: Input, *,
                        threshold: float = 0.5) -> list[Prediction]:
        """Scored pairs between `rows` and `others` only (linking two lists)."""
        return self._predictions(rows, others, threshold=threshold, within=False)

    def _predictions(self, rows: Input, others: Input | None, *, threshold: float,
                     within: bool) -> list[Prediction]:
        edges = self.predict_edges(rows, others, threshold=threshold, within=within)
        found = self.evidence([(a, b) for a, b, _ in edges])
        self.release()
        return list(found.values())

    def count_scored(self, rows: Input) -> int:
        """Block and score every candidate pair within `rows`, keeping none: how many
        pairs the model scores (for throughput measurements)."""
        api = DuckDBAPI(self._con)
        name = self.load(rows)
        table = api.register(name, table_name=name)
        linker = self._linker(api, table)
        frame = linker.inference.predict_within(table, warning_mode="never")
        count = self._sql(f"SELECT count(*) FROM {frame.physical_name}")[0][0]
        frame.drop_table_from_database_and_remove_from_cache()
        return int(count)

    def _prediction(self, values: dict[str, Any]) -> Prediction:
        evidence: dict[str, Any] = {}
        for comparison in self._comparisons:
            name = comparison.output_column_name
            gamma = values.get(f"gamma_{name}")
            level = next((lv for lv in comparison.comparison_levels
                          if lv.comparison_vector_value == gamma), None)
            weight = (values.get(f"mw_{name}") or 0.0) + (values.get(f"mw_tf_adj_{name}") or 0.0)
            evidence[name] = {"level": level.label_for_charts if level else None,
                              "weight": round(float(weight), 3)}
        left, right = values["unique_id_l"], values["unique_id_r"]
        return Prediction(min(left, right), max(left, right), float(values["match_probability"]),
                          float(values["match_weight"]), evidence)
