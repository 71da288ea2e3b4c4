import csv
import filecmp
import json
from collections import Counter
from datetime import date

import pytest

from hub.domain.nik import nik_problem, parse_nik
from hub.jsontext import read_jsonl
from hub.simulators.population import REFERENCE_DATE, NoiseProfile, PopulationGenerator
from hub.simulators.population_files import AGENCY_SOURCES, write_population


def test_same_seed_same_files_other_seed_other_files(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    write_population(a, "73.03", 60, seed=11)
    write_population(b, "73.03", 60, seed=11)
    write_population(c, "73.03", 60, seed=12)
    names = [
        "persons.jsonl", "households.jsonl", "ground_truth.csv", "agencies/dtks_individual.jsonl",
    ]
    assert all(filecmp.cmp(a / n, b / n, shallow=False) for n in names)
    assert not filecmp.cmp(a / "persons.jsonl", c / "persons.jsonl", shallow=False)


@pytest.fixture(scope="module")
def district(tmp_path_factory):
    out = tmp_path_factory.mktemp("pop")
    write_population(out, "33.14", 3000, seed=3)
    return out


def test_truth_niks_are_valid_unique_and_agree_with_sex_birth_and_region(district):
    seen = set()
    for person in read_jsonl(district / "persons.jsonl"):
        info = parse_nik(person["nik"], today=REFERENCE_DATE)
        assert info.sex.value == person["sex"]
        assert info.birth_date.isoformat() == person["birth_date"]
        assert info.regency_code == "33.14"
        assert person["nik"] not in seen
        seen.add(person["nik"])


def test_agency_identifiers_are_unique(district):
    for source, field in (("bpjs", "noKartu"), ("education", "nisn"),
                          ("education", "peserta_didik_id"), ("dukcapil", "NIK"),
                          ("dtks_individual", "IDARTBDT")):
        values = [r[field] for r in read_jsonl(district / "agencies" / f"{source}.jsonl")]
        assert len(values) == len(set(values)), f"{source}.{field} repeats"
    cards = [e["card_number"] for e in read_jsonl(district / "enrollments.jsonl")
             if e["card_number"]]
    assert len(cards) == len(set(cards))


def test_households_look_like_indonesian_households(district):
    sizes = Counter(p["household_id"] for p in read_jsonl(district / "persons.jsonl"))
    mean = sum(sizes.values()) / len(sizes)
    assert 3.2 <= mean <= 4.6  # BPS: about 3.8 persons per household
    heads = [p for p in read_jsonl(district / "persons.jsonl") if p["relation"] == "HEAD"]
    assert len(heads) == len(sizes)
    ages = [(REFERENCE_DATE - date.fromisoformat(p["birth_date"])).days / 365.25
            for p in read_jsonl(district / "persons.jsonl")]
    children = sum(a < 18 for a in ages) / len(ages)
    assert 0.2 <= children <= 0.45


def test_desil_distribution_is_skewed_to_the_poor(district):
    desil = Counter(h["desil"] for h in read_jsonl(district / "households.jsonl"))
    total = sum(desil.values())
    poorest_four = sum(desil[d] for d in range(1, 5)) / total
    assert poorest_four > 0.5
    assert desil[1] > desil[10] * 2


def test_dtks_noise_follows_the_reported_rates(district):
    rows = list(read_jsonl(district / "agencies" / "dtks_individual.jsonl"))
    invalid = sum(nik_problem(r["NIK"], today=REFERENCE_DATE) is not None for r in rows)
    # KPK 2021: about 17% of DTKS rows without a valid NIK.
    assert 0.14 <= invalid / len(rows) <= 0.20
    valid = [r["NIK"] for r in rows if nik_problem(r["NIK"], today=REFERENCE_DATE) is None]
    duplicated = sum(n for n in Counter(valid).values() if n > 1)
    assert 0.003 <= duplicated / len(rows) <= 0.04


def test_dtks_kk_numbers_are_sometimes_blank_or_off_by_a_digit(district):
    kk_of = {p["id"]: p["kk"] for p in read_jsonl(district / "persons.jsonl")}
    with (district / "ground_truth.csv").open() as handle:
        person_of = {r["source_key"]: int(r["person_id"]) for r in csv.DictReader(handle)
                     if r["source"] == "dtks_individual"}
    rows = list(read_jsonl(district / "agencies" / "dtks_individual.jsonl"))
    blank = sum(not r["NoKK"] for r in rows)
    off = [r["NoKK"] for r in rows if r["NoKK"] and r["NoKK"] != kk_of[person_of[r["IDARTBDT"]]]]
    assert 0.01 <= blank / len(rows) <= 0.03
    assert 0.01 <= len(off) / len(rows) <= 0.03
    # Off by one digit of the serial: still a well-formed KK, so nothing flags it.
    assert all(len(kk) == 16 and kk.isdigit() for kk in off)


def test_some_people_are_in_dtks_twice(district):
    with (district / "ground_truth.csv").open() as handle:
        per_person = Counter(r["person_id"] for r in csv.DictReader(handle)
                             if r["source"] == "dtks_individual")
    twice = sum(1 for n in per_person.values() if n > 1)
    assert 0.001 < twice / len(per_person) < 0.02


def test_every_agency_record_is_in_the_ground_truth(district):
    manifest = json.loads((district / "manifest.json").read_text())
    with (district / "ground_truth.csv").open() as handle:
        truth = Counter(row["source"] for row in csv.DictReader(handle))
    for source in AGENCY_SOURCES:
        lines = sum(1 for _ in read_jsonl(district / "agencies" / f"{source}.jsonl"))
        assert truth[source] == lines == manifest["counts"].get(source, 0)


def test_agencies_miss_deaths_and_coverage_has_gaps(district):
    dead = {p["id"] for p in read_jsonl(district / "persons.jsonl") if not p["alive"]}
    assert dead, "a district of 3,000 households has deaths"
    with (district / "ground_truth.csv").open() as handle:
        dtks_ids = {int(r["person_id"]) for r in csv.DictReader(handle)
                    if r["source"] == "dtks_individual"}
    assert dead & dtks_ids, "DTKS still lists some of the dead"
    households = {h["id"]: h for h in read_jsonl(district / "households.jsonl")}
    persons = list(read_jsonl(district / "persons.jsonl"))
    pbi = {e["person_id"] for e in read_jsonl(district / "enrollments.jsonl")
           if e["program"] == "PBI_JKN"}
    poor = [p for p in persons if households[p["household_id"]]["desil"] <= 4 and p["alive"]]
    uncovered = sum(p["id"] not in pbi for p in poor) / len(poor)
    assert 0.05 < uncovered < 0.5  # the buffer-stock problem: eligible without KIS


def test_every_regency_with_villages_can_be_generated():
    for regency in ("35.10", "73.03", "32.04", "52.72", "33.29", "16.06"):
        bundles = list(PopulationGenerator(regency, 5, seed=1))
        assert all(b.truth.village.code.startswith(regency + ".") for b in bundles)


def test_unknown_regency_and_profile_are_clear_errors():
    with pytest.raises(ValueError, match="no village data"):
        PopulationGenerator("11.01", 5, seed=1)
    with pytest.raises(ValueError, match="noise profile"):
        NoiseProfile.named("gentle")


def test_manifest_records_the_generator_version(tmp_path):
    from hub.simulators.population_files import is_current

    out = tmp_path / "pop"
    assert not is_current(out)
    write_population(out, "33.14", 5, seed=1)
    assert is_current(out)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["generator"] -= 1
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert not is_current(out)  # an older generator's district is made again
