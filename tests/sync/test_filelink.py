"""`slrt-hub link` on messy files an office might be handed: CSV with semicolons and
stray spaces, XLSX with spreadsheet dates, differently named columns."""

from __future__ import annotations

import csv
import re
from datetime import date
from pathlib import Path

from openpyxl import Workbook
from typer.testing import CliRunner

from hub.cli import app
from hub.jsontext import read_jsonl
from tests.sync.conftest import ground_truth

runner = CliRunner()


def _dtks_csv(population: Path, out: Path) -> None:
    with out.open("w", encoding="utf-8") as handle:
        handle.write("IDARTBDT; Nama; NIK; TglLahir; JnsKel\n")
        for r in read_jsonl(population / "agencies" / "dtks_individual.jsonl"):
            handle.write(f"{r['IDARTBDT']}; {r['Nama']}; {r['NIK'] or ''}; "
                         f"{r['TglLahir'] or ''}; {'L' if r['JnsKel'] == 1 else 'P'}\n")


def _bpjs_xlsx(population: Path, out: Path) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(["No Kartu", "Nama Peserta", "NIK", "Tanggal Lahir", "JK"])
    for r in read_jsonl(population / "agencies" / "bpjs.jsonl"):
        sheet.append([r["noKartu"], r["nama"], r["nik"], date.fromisoformat(r["tglLahir"]),
                      r["sex"]])
    book.save(out)


def _pairs(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_linking_a_csv_to_an_xlsx_finds_the_same_people(tmp_path: Path,
                                                        sync_population: Path) -> None:
    left, right, out = tmp_path / "dtks.csv", tmp_path / "bpjs.xlsx", tmp_path / "pairs.csv"
    _dtks_csv(sync_population, left)
    _bpjs_xlsx(sync_population, right)
    result = runner.invoke(app, [
        "link", str(left), str(right), "--field", "key=IDARTBDT:No Kartu",
        "--field", "name=Nama:Nama Peserta", "--field", "id=nik",
        "--field", "birth_date=TglLahir:Tanggal Lahir", "--field", "sex=JnsKel:JK",
        "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert re.search(r"unparsed_dates +0\n", result.output)
    pairs = _pairs(out)
    assert set(pairs[0]) >= {"left", "right", "match_probability", "name_level",
                             "name_weight", "birth_date_level", "nik_level"}
    truth = ground_truth(sync_population)
    sure = [p for p in pairs if float(p["match_probability"]) >= 0.99]
    right_people = {truth[("bpjs", k)] for (s, k) in truth if s == "bpjs"}
    correct = sum(truth[("dtks_individual", p["left"])] == truth[("bpjs", p["right"])]
                  for p in sure)
    assert correct / len(sure) >= 0.99
    assert correct / len(right_people) >= 0.85


def test_one_file_finds_its_own_duplicates(tmp_path: Path, sync_population: Path) -> None:
    left, out = tmp_path / "dtks.csv", tmp_path / "dups.csv"
    _dtks_csv(sync_population, left)
    result = runner.invoke(app, ["link", str(left), "-f", "key=IDARTBDT", "-f", "name=Nama",
                                 "-f", "id=NIK", "-f", "birth_date=TglLahir", "-f", "sex=JnsKel",
                                 "--out", str(out), "--threshold", "0.5"])
    assert result.exit_code == 0, result.output
    truth = ground_truth(sync_population)
    dtks_people: dict[str, int] = {}
    for (source, _), person in truth.items():
        if source == "dtks_individual":
            dtks_people[person] = dtks_people.get(person, 0) + 1
    entered_twice = sum(1 for n in dtks_people.values() if n > 1)
    found = [p for p in _pairs(out)
             if truth[("dtks_individual", p["left"])] == truth[("dtks_individual", p["right"])]]
    assert entered_twice > 0
    assert len(found) >= 0.7 * entered_twice


def test_mapping_mistakes_are_named(tmp_path: Path, sync_population: Path) -> None:
    left = tmp_path / "dtks.csv"
    _dtks_csv(sync_population, left)
    result = runner.invoke(app, ["link", str(left), "-f", "name=nama_lengkap"])
    assert result.exit_code == 2
    assert "no column 'nama_lengkap'" in result.output
    assert "IDARTBDT" in result.output
    result = runner.invoke(app, ["link", str(left), "-f", "nama=Nama"])
    assert "unknown role 'nama'" in result.output
    result = runner.invoke(app, ["link", str(left), "-f", "birth_date=TglLahir"])
    assert "map at least a name" in result.output
    result = runner.invoke(app, ["link", str(tmp_path / "missing.csv"), "-f", "name=x"])
    assert "no such file" in " ".join(result.output.split())
