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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa
from splink import DuckDBAPI, Linker, SettingsCreator, block_on
from splink import comparison_library as cl
from splink.internals.comparison_level_library import CustomLevel, ElseLevel, NullLevel

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
    "village_code": pa.string(),
    "district_code": pa.string(),
    "regency_code": pa.string(),
    "address": pa.string(),
    "postcode": pa.string(),
    "city": pa.string(),
    "phone": pa.string(),
}
FREE_TEXT = ("address", "postcode", "city", "phone")


def _name_comparison() -> cl.CustomComparison:
    lhs, rhs = "name_norm_l", "name_norm_r"
    return cl.CustomComparison(
        output_column_name="name",
        comparison_description="normalised name",
        comparison_levels=[
            NullLevel("name_norm"),
            CustomLevel(f"{lhs} = {rhs}", "exact").configure(
                tf_adjustment_column="name_norm", tf_adjustment_weight=1.0
            ),
            CustomLevel("name_key_l = name_key_r", "same sound"),
            CustomLevel(f"jaro_winkler_similarity({lhs}, {rhs}) >= 0.92", "jaro-winkler >= 0.92"),
            CustomLevel(
                "(length(first_name_l) >= 4 AND suffix(first_name_r, first_name_l)) OR "
                "(length(first_name_r) >= 4 AND suffix(first_name_l, first_name_r)) OR "
                f"(length({lhs}) >= 4 AND contains({rhs}, {lhs})) OR "
                f"(length({rhs}) >= 4 AND contains({lhs}, {rhs}))",
                "nickname or part of the name",
            ),
            CustomLevel(f"jaro_winkler_similarity({lhs}, {rhs}) >= 0.80", "jaro-winkler >= 0.80"),
            ElseLevel(),
        ],
    )


def _birth_date_comparison() -> cl.CustomComparison:
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
            CustomLevel(f"damerau_levenshtein({lhs}, {rhs}) <= 1", "one digit apart"),
            CustomLevel(f"substr({lhs}, 6, 5) = substr({rhs}, 6, 5)", "same day, other year"),
            CustomLevel("abs(birth_year_l - birth_year_r) <= 1", "year within one"),
            ElseLevel(),
        ],
    )


def _exact(column: str, description: str, *, near: str | None = None) -> cl.CustomComparison:
    lhs, rhs = f"{column}_l", f"{column}_r"
    levels: list[Any] = [NullLevel(column), CustomLevel(f"{lhs} = {rhs}", "exact")]
    if near:
        levels.append(CustomLevel(near.format(l=lhs, r=rhs), "near"))
    levels.append(ElseLevel())
    return cl.CustomComparison(
        output_column_name=column, comparison_description=description, comparison_levels=levels
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


def _free_text(column: str) -> cl.CustomComparison:
    lhs, rhs = f"{column}_l", f"{column}_r"
    return cl.CustomComparison(
        output_column_name=column, comparison_description=column,
        comparison_levels=[
            NullLevel(column),
            CustomLevel(f"{lhs} = {rhs}", "exact"),
            CustomLevel(f"damerau_levenshtein({lhs}, {rhs}) <= 1", "one edit apart"),
            CustomLevel(f"jaro_winkler_similarity({lhs}, {rhs}) >= 0.88", "jaro-winkler >= 0.88"),
            ElseLevel(),
        ],
    )


def comparisons(columns: frozenset[str]) -> list[cl.CustomComparison]:
    """The comparisons for the columns present; a missing column is simply not compared."""
    out = [_name_comparison()]
    if "birth_date" in columns:
        out.append(_birth_date_comparison())
    if "sex" in columns:
        out.append(_exact("sex", "sex"))
    if "nik" in columns:
        # A typo in the serial keeps region and birth date; two digits swapped in the
        # birth date is another person (a sibling's NIK often differs just so).
        # (An identity number that is not a NIK has no nik12: any one edit is near.)
        near = ("(nik12_l = nik12_r OR nik12_l IS NULL OR nik12_r IS NULL) AND "
                "damerau_levenshtein({l}, {r}) <= 1" if "nik12" in columns
                else "damerau_levenshtein({l}, {r}) <= 1")
        out.append(_exact("nik", "identity number", near=near))
    if "kk" in columns:
        out.append(_exact("kk", "family card (KK)"))
    if columns & {"village_code", "district_code", "regency_code"}:
        out.append(_region_comparison(columns))
    out.extend(_free_text(column) for column in FREE_TEXT if column in columns)
    return out


def blocking_rules(columns: frozenset[str]) -> list[Any]:
    """OR-ed blocking rules: a pair is scored if any of them puts it in one block."""
    rules: list[Any] = [block_on("name_key", "birth_year") if "birth_year" in columns
                        else block_on("name_key")]
    if "nik12" in columns:
        rules.append(block_on("nik12"))
    elif "nik" in columns:
        rules.append(block_on("nik"))
    if "kk" in columns:
        rules.append(block_on("kk"))
    if "village_code" in columns:
        rules.append(block_on("name_key", "village_code"))
        if "birth_date" in columns:
            rules.append(block_on("village_code", "birth_date"))
    if "birth_date" in columns:
        rules.append(block_on("birth_date", "first_name"))
    if "postcode" in columns:
        rules.append(block_on("postcode", "first_name"))
    return rules


def settings(columns: frozenset[str], prior: float = 1e-4) -> SettingsCreator:
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=comparisons(columns),
        blocking_rules_to_generate_predictions=blocking_rules(columns),
        probability_two_random_records_match=prior,
        retain_matching_columns=True,
        retain_intermediate_calculation_columns=True,
        max_iterations=20,
    )


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


class LinkageEngine:
    """One DuckDB database in memory holding the records of one run."""

    def __init__(self, columns: Iterable[str], model: dict[str, Any] | None = None) -> None:
        self.columns = frozenset(columns) - {"unique_id", "tf_name_norm"}
        if "name_norm" not in self.columns:
            raise ValueError("linkage needs at least a name")
        self.model = model
        self._con = duckdb.connect()
        self._con.execute("SET preserve_insertion_order = false")
        self._tables = 0

    def close(self) -> None:
        self._con.close()

    def _arrow(self, rows: Sequence[dict[str, Any]]) -> pa.Table:
        names = ["unique_id", *sorted(self.columns)]
        schema = pa.schema([(n, COLUMN_TYPES[n]) for n in names])
        return pa.Table.from_pylist(list(rows), schema=schema)

    def _register(self, api: DuckDBAPI, rows: Sequence[dict[str, Any]]) -> Any:
        self._tables += 1
        name = f"records_{self._tables}"
        self._con.register(f"{name}_arrow", self._arrow(rows))
        self._con.execute(f"CREATE TABLE {name} AS SELECT * FROM {name}_arrow")
        self._con.unregister(f"{name}_arrow")
        return api.register(name, table_name=name)

    def train(self, rows: Sequence[dict[str, Any]], *, seed: int = 2026) -> dict[str, Any]:
        """Estimate the model on `rows` and keep it; returns the settings JSON to save."""
        api = DuckDBAPI(self._con)
        table = self._register(api, rows)
        linker = Linker(table, settings(self.columns), log_level=None)
        training = linker.training
        deterministic = _deterministic_rules(self.columns)
        try:
            training.estimate_probability_two_random_records_match(deterministic, recall=0.8)
        except Exception:  # a rule may find no pair in a tiny file
            logging.getLogger(__name__).info("prior left at its default")
        pairs = min(2_000_000, max(10_000, len(rows) * 20))
        training.estimate_u_using_random_sampling(max_pairs=pairs, seed=seed)
        for rule in _training_blocks(self.columns):
            try:
                training.estimate_parameters_using_expectation_maximisation(
                    rule, fix_probability_two_random_records_match=True
                )
            except Exception:  # EM may find no pair to learn from
                logging.getLogger(__name__).info("EM session on %s skipped", rule)
        self.model = _sane(linker.misc.save_model_to_json())
        return self.model

    def _linker(self, api: DuckDBAPI, tables: Any) -> Linker:
        if self.model is None:
            raise RuntimeError("train or load a model before predicting")
        return Linker(tables, self.model, log_level=None)

    def predict(
        self, rows: Sequence[dict[str, Any]], others: Sequence[dict[str, Any]] | None = None,
        *, threshold: float = 0.5,
    ) -> list[Prediction]:
        """Scored pairs above `threshold`: within `rows`, and when `others` are given
        also between `rows` and `others` (never within `others`)."""
        return self._predict(rows, others, threshold=threshold, within=True)

    def predict_between(self, rows: Sequence[dict[str, Any]],
                        others: Sequence[dict[str, Any]], *,
                        threshold: float = 0.5) -> list[Prediction]:
        """Scored pairs between `rows` and `others` only (linking two lists)."""
        return self._predict(rows, others, threshold=threshold, within=False)

    def _predict(self, rows: Sequence[dict[str, Any]],
                 others: Sequence[dict[str, Any]] | None, *, threshold: float,
                 within: bool) -> list[Prediction]:
        api = DuckDBAPI(self._con)
        left = self._register(api, rows)
        linker = self._linker(api, left)
        self._register_name_frequencies(api, linker, [*rows, *(others or ())])
        results = []
        if within:
            results.append(linker.inference.predict_within(
                left, threshold_match_probability=threshold, warning_mode="never"))
        if others:
            right = self._register(api, others)
            results.append(linker.inference.predict_between(
                left, right, threshold_match_probability=threshold, warning_mode="never"
            ))
        return [p for frame in results for p in self._collect(linker, frame)]

    def _register_name_frequencies(self, api: DuckDBAPI, linker: Linker,
                                   rows: Sequence[dict[str, Any]]) -> None:
        """Name frequencies come with the rows (the caller knows them for the whole
        registry, not just this batch) and reach Splink as a lookup table."""
        frequencies: dict[str, float] = {}
        for row in rows:
            frequencies.setdefault(row["name_norm"], row.get("tf_name_norm") or 0.0)
        table = pa.table({"name_norm": list(frequencies),
                          "tf_name_norm": list(frequencies.values())})
        self._tables += 1
        name = f"name_frequencies_{self._tables}"
        self._con.register(f"{name}_arrow", table)
        self._con.execute(f"CREATE TABLE {name} AS SELECT * FROM {name}_arrow")
        self._con.unregister(f"{name}_arrow")
        linker.table_management.register_term_frequency_lookup(
            api.register(name, table_name=name), "name_norm"
        )

    def _collect(self, linker: Linker, frame: Any) -> list[Prediction]:
        comparisons = linker._settings_obj.comparisons
        relation = self._con.table(frame.physical_name)
        columns = relation.columns
        names = [c.output_column_name for c in comparisons]
        out: list[Prediction] = []
        for row in relation.fetchall():
            values = dict(zip(columns, row, strict=True))
            evidence: dict[str, Any] = {}
            for comparison, name in zip(comparisons, names, strict=True):
                gamma = values.get(f"gamma_{name}")
                level = next((lv for lv in comparison.comparison_levels
                              if lv.comparison_vector_value == gamma), None)
                weight = (values.get(f"mw_{name}") or 0.0) + (
                    values.get(f"mw_tf_adj_{name}") or 0.0)
                evidence[name] = {
                    "level": level.label_for_charts if level else None,
                    "weight": round(float(weight), 3),
                }
            left, right = values["unique_id_l"], values["unique_id_r"]
            out.append(Prediction(min(left, right), max(left, right),
                                  float(values["match_probability"]),
                                  float(values["match_weight"]), evidence))
        frame.drop_table_from_database_and_remove_from_cache()
        return out
