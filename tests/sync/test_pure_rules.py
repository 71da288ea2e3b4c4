"""The pure parts of reconciliation: phonetic keys, NIK corroboration, constrained
clustering, survivorship, finding rules and the quality measure."""

from __future__ import annotations

from datetime import date

import pytest

from hub.domain.dates import parse_any_date
from hub.domain.matchkeys import corroborated, features, phonetic_key
from hub.domain.survivorship import SourceFact, SurvivorshipRules, enrollments, golden_person
from hub.sync.clustering import Edge, cluster
from hub.sync.evaluation import quality
from hub.sync.findings import FindingRules, Lookups, PersonView, evaluate

RULES = SurvivorshipRules(
    identity=["dukcapil", "dtks_individual", "bpjs"], residence=["dtks_individual", "dukcapil"],
    programs={"PBI_JKN": "bpjs", "PKH": "dtks_individual", "KIP_PIP": "education"})


@pytest.mark.parametrize(("a", "b"), [
    ("Fatimah", "Patimah"), ("Yusuf", "Yusup"), ("Aisyah", "Aisya"), ("Khadijah", "Hadijah"),
    ("Rizky", "Rizki"), ("Slamet", "Slamed"), ("Nur Hayati", "Nurhayati"),
    ("Soetrisno", "Sutrisno"), ("Djoko", "Joko"),
])
def test_spelling_variants_share_a_phonetic_key(a: str, b: str) -> None:
    assert phonetic_key(a) == phonetic_key(b)


@pytest.mark.parametrize(("a", "b"), [("Slamet", "Sutrisno"), ("Siti Aminah", "Siti Rahayu")])
def test_different_names_keep_different_keys(a: str, b: str) -> None:
    assert phonetic_key(a) != phonetic_key(b)


def _f(source: str, **values: object) -> object:
    return features(source, {"name": "X", **values})


def test_a_shared_nik_links_only_when_name_or_birth_date_agrees() -> None:
    nik = "3314011501800001"
    same = _f("dukcapil", nik=nik, name="Slamet Riyadi", birth_date="1980-01-15")
    typo = _f("dtks_individual", nik=nik, name="Selamet Riyadi", birth_date=None)
    other = _f("dtks_individual", nik=nik, name="Sri Wahyuni", birth_date="1991-07-02")
    assert corroborated(same, typo)
    assert not corroborated(same, other)
    assert _f("bpjs", nik="3314010000000000").nik is None  # invalid NIKs are no evidence


def test_region_falls_back_to_the_issuing_district_of_the_kk() -> None:
    f = _f("education", kk="3314052304120001")
    assert f.district_code == "33.14.05"
    assert f.regency_code == "33.14"


def test_clustering_refuses_to_merge_two_civil_registry_records() -> None:
    sources = {1: "dukcapil", 2: "dukcapil", 3: "dtks_individual"}
    # 3 matches both 1 and 2 strongly: one bad edge must not make 1 and 2 one person.
    edges = [Edge(1, 3, 0.999, "PROBABILISTIC"), Edge(2, 3, 0.998, "PROBABILISTIC")]
    result = cluster([1, 2, 3], {}, sources, edges, threshold=0.99)
    assert result.new_cluster[1] == result.new_cluster[3] != result.new_cluster[2]
    assert [(e.left, e.right) for e in result.refused] == [(2, 3)]
    assert result.method[3] == "PROBABILISTIC"
    assert result.method[2] == "NEW"


def test_clustering_joins_existing_persons_and_respects_steward_decisions() -> None:
    sources = {10: "dukcapil", 1: "bpjs", 2: "bpjs"}
    edges = [Edge(1, 10, 1.0, "NIK"), Edge(2, 10, 0.995, "PROBABILISTIC")]
    result = cluster([1, 2], {10: 77}, sources, edges, threshold=0.99, forbidden=[(2, 77)])
    assert result.person == {1: 77}
    assert 2 in result.new_cluster
    below = cluster([1], {10: 77}, sources, [Edge(1, 10, 0.9, "PROBABILISTIC")],
                    threshold=0.99)
    assert below.person == {}  # under the threshold: a review task, not a link


def test_clustering_never_merges_two_known_persons() -> None:
    sources = {10: "dukcapil", 11: "dukcapil", 1: "dtks_individual"}
    edges = [Edge(1, 10, 0.999, "PROBABILISTIC"), Edge(1, 11, 0.998, "PROBABILISTIC")]
    result = cluster([1], {10: 5, 11: 6}, sources, edges, threshold=0.99)
    assert result.person == {1: 5}
    assert len(result.refused) == 1


def _fact(record: int, source: str, seen: str = "2026-01-01", **values: object) -> SourceFact:
    return SourceFact(record, source, f"{source}-{record}", seen, values)


def test_survivorship_prefers_the_civil_registry_then_the_latest_record() -> None:
    facts = [
        _fact(1, "dtks_individual", name="Slamet", nik="3314011501800001", kk="3314012304120001"),
        _fact(2, "dukcapil", name="SLAMET RIYADI", nik="3314011501800001", birth_date=None),
        _fact(3, "dtks_individual", "2026-06-01", birth_date="1980-01-15",
              household_key="H1"),
    ]
    golden = golden_person(facts, RULES, residence={"H1": "33.14.01.2001"})
    assert golden.values["name"] == "SLAMET RIYADI"
    assert golden.lineage["name"]["source"] == "dukcapil"
    assert golden.values["birth_date"] == "1980-01-15"  # dukcapil has none: DTKS, latest
    assert golden.lineage["birth_date"]["record_id"] == 3
    assert golden.values["village_code"] == "33.14.01.2001"
    assert golden.values["kk"] == "3314012304120001"


def test_each_programme_is_told_by_its_own_agency() -> None:
    facts = [
        _fact(1, "dtks_individual", programs={"PBI_JKN": 1, "PKH": 1}),
        _fact(2, "bpjs", program="PBI_JKN", status="INACTIVE", card_number="0001"),
    ]
    programs = {p.program: p for p in enrollments(facts, RULES)}
    assert programs["PBI_JKN"].status == "INACTIVE"  # BPJS, not DTKS' flag
    assert programs["PBI_JKN"].source == "bpjs"
    assert programs["PKH"].source == "dtks_individual"


FINDING_RULES = FindingRules(pbi_max_desil=4, pip_max_desil=4, pip_ages=(6, 21),
                             programs=RULES.programs, civil_registry="dukcapil",
                             person_sources=["dukcapil", "dtks_individual", "bpjs"])


def _view(facts: list[SourceFact], desil: int | None, **golden: object) -> PersonView:
    g = golden_person(facts, RULES)
    g.values.update(golden)
    return PersonView(1, g, facts, enrollments(facts, RULES), desil, "33.14.01.2001")


def test_finding_rules() -> None:
    nik = "3314011501800001"
    poor = _view([_fact(1, "dukcapil", nik=nik, kk="3314012304120001", birth_date="2015-02-01"),
                  _fact(2, "dtks_individual", nik="123", nik_problem="LENGTH",
                        kk="3314019999990001")], desil=2)
    lookups = Lookups({nik: {1, 9}}, civil_niks={nik}, civil_registry_loaded=True)
    kinds = {r.kind: r for r in evaluate(poor, lookups, FINDING_RULES, date(2026, 11, 1))}
    assert kinds["ELIGIBLE_NOT_COVERED"].owner in {"bpjs", "education"}
    assert {r.detail for r in evaluate(poor, lookups, FINDING_RULES, date(2026, 11, 1))
            if r.kind == "ELIGIBLE_NOT_COVERED"} == {"PBI_JKN", "KIP_PIP"}
    assert kinds["INVALID_NIK"].owner == "dtks"
    assert kinds["IDENTITY_MISMATCH"].evidence["other_persons"] == [9]
    assert kinds["HOUSEHOLD_CONFLICT"].evidence["civil_registry_kk"] == "3314012304120001"

    dead = _view([_fact(1, "dukcapil", nik=nik), _fact(2, "bpjs", nik=nik, program="PBI_JKN",
                                                       status="ACTIVE")], desil=8, alive=False)
    raised = evaluate(dead, Lookups({}, {nik}, True), FINDING_RULES, date(2026, 11, 1))
    assert [(r.kind, r.owner) for r in raised] == [("DECEASED_STILL_ENROLLED", "bpjs")]

    unknown = _view([_fact(2, "bpjs", nik=nik)], desil=None)
    raised = evaluate(unknown, Lookups({}, set(), True), FINDING_RULES, date(2026, 11, 1))
    assert [r.kind for r in raised] == ["NIK_NOT_IN_CIVIL_REGISTRY"]
    twice = _view([_fact(2, "dtks_individual"), _fact(3, "dtks_individual")], desil=None)
    assert [r.kind for r in evaluate(twice, Lookups({}, set(), False), FINDING_RULES,
                                     date(2026, 11, 1))] == ["DUPLICATE_PERSON"]


def test_quality_counts_pairs_from_cluster_sizes() -> None:
    truth = {1: "a", 2: "a", 3: "a", 4: "b"}
    perfect = quality(truth, truth)
    assert (perfect.precision, perfect.recall, perfect.f1) == (1.0, 1.0, 1.0)
    split = quality({1: 1, 2: 1, 3: 2, 4: 3}, truth)
    assert split.precision == 1.0
    assert split.recall == pytest.approx(1 / 3)
    lumped = quality({1: 1, 2: 1, 3: 1, 4: 1}, truth)
    assert lumped.recall == 1.0
    assert lumped.precision == pytest.approx(3 / 6)
    assert lumped.record_precision == pytest.approx(3 / 4)


@pytest.mark.parametrize(("text", "expected"), [
    ("1980-01-31", date(1980, 1, 31)), ("31-01-1980", date(1980, 1, 31)),
    ("31/1/1980", date(1980, 1, 31)), ("19800131", date(1980, 1, 31)),
    ("31 Januari 1980", date(1980, 1, 31)), ("3 Agustus 1945", date(1945, 8, 3)),
    ("02/03/1980", date(1980, 3, 2)), ("01/31/1980", date(1980, 1, 31)),
    ("31-02-1980", None), ("kemarin", None), ("", None),
])
def test_any_common_date_format(text: str, expected: date | None) -> None:
    assert parse_any_date(text) == expected


def test_the_sql_corroboration_rule_agrees_with_the_python_one() -> None:
    from hub.sync.resolution import LINKAGE_COLUMNS, linkage_row
    from hub.sync.scoring import LinkageEngine

    nik = "3314011501800001"
    variants = [
        {"name": "Slamet Riyadi", "birth_date": "1980-01-15"},
        {"name": "Selamet Riyadi"},
        {"name": "Sri Wahyuni", "birth_date": "1991-07-02"},
        {"name": "Slamet R.", "birth_date": "1980-01-15"},
        {"name": "Bambang", "birth_date": "1991-07-02"},
    ]
    feats = {i: features("dtks_individual", {"nik": nik, **v})
             for i, v in enumerate(variants, start=1)}
    engine = LinkageEngine(LINKAGE_COLUMNS)
    try:
        links, conflicts = engine.nik_pairs([linkage_row(i, f, 0.01) for i, f in feats.items()])
    finally:
        engine.close()
    expected = {(a, b) for a in feats for b in feats if a < b and corroborated(feats[a], feats[b])}
    assert set(links) == expected
    assert set(conflicts) == {(a, b) for a in feats for b in feats if a < b} - expected
    assert expected
    assert set(conflicts)


def _nik_level(columns: set[str], left: dict[str, str], right: dict[str, str]) -> str:
    """The NIK comparison level a pair falls in, by the model's own SQL in DuckDB."""
    import duckdb

    from hub.sync.scoring import settings

    model = settings(frozenset(columns)).create_settings_dict("duckdb")
    nik = next(c for c in model["comparisons"] if c["output_column_name"] == "nik")
    case = " ".join(f"WHEN {lv['sql_condition']} THEN '{lv['label_for_charts']}'"
                    for lv in nik["comparison_levels"] if lv["sql_condition"] != "ELSE")
    values = {f"{k}_l": v for k, v in left.items()} | {f"{k}_r": v for k, v in right.items()}
    select = ", ".join(f"'{v}' AS {k}" for k, v in values.items())
    return duckdb.sql(f"SELECT CASE {case} ELSE 'else' END FROM (SELECT {select})").fetchall()[0][0]


def test_a_nik_one_digit_away_is_a_typo_only_when_the_names_agree() -> None:
    """NIK serials run in sequence per kecamatan and birth date: 0001 and 0002 held by
    two different names are neighbours, not a typo. A number without that structure
    keeps the plain one-edit level."""
    columns = {"name_norm", "nik", "nik12", "birth_date"}

    def record(nik: str, name: str) -> dict[str, str]:
        return {"nik": nik, "nik12": nik[:12], "name_norm": name}

    typo = _nik_level(columns, record("3314011501800001", "SLAMET RIYADI"),
                      record("3314011501800007", "SLAMET RIYADI"))
    neighbours = _nik_level(columns, record("3314011501800001", "SLAMET RIYADI"),
                            record("3314011501800002", "SRI WAHYUNI"))
    assert (typo, neighbours) == ("near", "else")
    assert _nik_level({"name_norm", "nik"}, {"nik": "A123457", "name_norm": "SRI"},
                      {"nik": "A123456", "name_norm": "BUDI"}) == "near"


def _level(columns: set[str], comparison: str, left: dict[str, str | None],
           right: dict[str, str | None]) -> str:
    """The level of `comparison` a pair falls in, by the model's own SQL in DuckDB."""
    import duckdb

    from hub.sync.scoring import settings

    model = settings(frozenset(columns)).create_settings_dict("duckdb")
    levels = next(c for c in model["comparisons"] if c["output_column_name"] == comparison)
    case = " ".join(f"WHEN {lv['sql_condition']} THEN '{lv['label_for_charts']}'"
                    for lv in levels["comparison_levels"] if lv["sql_condition"] != "ELSE")
    values = {f"{k}_l": v for k, v in left.items()} | {f"{k}_r": v for k, v in right.items()}
    def literal(column: str, value: str | None) -> str:
        text = "NULL::VARCHAR" if value is None else f"{value!r}::VARCHAR"
        # As the engine loads them (LinkageEngine.load): relatives as a list.
        return f"string_split({text}, ' ')" if column.startswith("relatives") else text

    select = ", ".join(f"{literal(k, v)} AS {k}" for k, v in values.items())
    return duckdb.sql(f"SELECT CASE {case} ELSE 'else' END FROM (SELECT {select})").fetchall()[0][0]


def test_relatives_speak_where_the_kk_numbers_do_not() -> None:
    columns = {"name_norm", "kk", "relatives"}

    def record(kk: str | None, family: str | None) -> dict[str, str | None]:
        return {"kk": kk, "relatives": family}

    kk, typo = "3314010101200001", "3314010101200007"
    assert _level(columns, "kk", record(kk, "BUDI"), record(kk, None)) == "exact"
    assert _level(columns, "kk", record(kk, "BUDI SITI"), record(typo, "AMIR SITI")) \
        == "a relative in common"
    assert _level(columns, "kk", record(None, "BUDI SITI"), record(kk, "SITI")) \
        == "a relative in common"
    assert _level(columns, "kk", record(kk, "BUDI"), record(typo, "AMIR")) == "else"
    assert _level(columns, "kk", record(None, "BUDI"), record(kk, "AMIR")) == "unknown"
    assert _level(columns, "kk", record(None, None), record(kk, None)) == "unknown"
    # Without relatives to compare (a user's file), the KK alone.
    assert _level({"name_norm", "kk"}, "kk", {"kk": kk}, {"kk": typo}) == "else"


def _model_numbers(model: dict) -> list[tuple[str, float]]:
    numbers = [("prior", model["probability_two_random_records_match"])]
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            for name in ("m_probability", "u_probability"):
                if name in level:
                    numbers.append((f"{comparison['output_column_name']} "
                                    f"{level.get('label_for_charts')} {name}", level[name]))
    return numbers


def test_training_on_a_sample_gives_the_same_model_in_any_row_order() -> None:
    """Past the training sample's size the model is trained on a sample: the same
    records must give the same model however they arrive (a reservoir sample did not:
    two runs of one district trained different priors)."""
    import math
    import random

    from hub.sync.resolution import LINKAGE_COLUMNS, linkage_row
    from hub.sync.scoring import LinkageEngine

    rng = random.Random(11)
    given = ["SLAMET", "SRI", "BUDI", "SITI", "AGUS", "DEWI", "EKO", "WAHYU", "RINA", "JOKO"]
    family = ["RIYADI", "WAHYUNI", "SANTOSO", "LESTARI", "PRASETYO", "HANDAYANI", "SUSANTO"]
    rows = []
    for _ in range(1200):
        name = f"{rng.choice(given)} {rng.choice(family)}"
        born = f"{rng.randint(1940, 2015)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        for copy in range(1 + (rng.random() < 0.3)):  # a third recorded twice
            spelled = name if not copy else name.replace("I", "Y", 1)
            rows.append(linkage_row(len(rows) + 1, features("dtks_individual", {
                "name": spelled, "birth_date": born, "sex": rng.choice("LP")}), 0.01))
    shuffled = rows[:]
    rng.shuffle(shuffled)
    models = []
    for data in (rows, shuffled):
        engine = LinkageEngine(LINKAGE_COLUMNS)
        try:
            models.append(engine.train(data, sample_size=700))
        finally:
            engine.close()
    assert len(rows) > 700
    one, other = (_model_numbers(m) for m in models)
    assert [name for name, _ in one] == [name for name, _ in other]
    for (name, a), (_, b) in zip(one, other, strict=True):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-15), (name, a, b)
