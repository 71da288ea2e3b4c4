"""Synthetic district population: the truth, and each agency's imperfect view of it.

Deterministic for a seed, streamed household by household so a million persons need no
more memory than a thousand. Every agency record carries the id of the true person in
`ground_truth.csv`, so matching quality can be measured instead of guessed.

The noise follows what Indonesia has reported about its registries: about 17% of DTKS
rows without a valid NIK (KPK, 2021), about 1% duplicate NIKs, deaths that DTKS and
BPJS have not yet seen, families that moved, nicknames and pre-1972 spellings, birth
dates unknown and written as 1 July or 31 December.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from importlib import resources
from typing import Any

from hub.domain.crosswalk import education_district
from hub.domain.kk import build_kk
from hub.domain.nik import Sex, build_nik
from hub.domain.regions import Region, catalog

REFERENCE_DATE = date(2026, 7, 1)  # "today" of the synthetic world: output never drifts
# Bumped whenever the same seed would give different output, so cached districts that
# an older generator wrote are made again rather than served stale.
GENERATOR_VERSION = 5


def scrambled(number: int, digits: int) -> str:
    """A unique, random-looking identifier of `digits` digits for each number below
    10**digits: multiplying by a constant coprime with 10 permutes the residues.
    Card numbers drawn at random would collide (the birthday problem) by the hundreds."""
    return f"{number * 7_919_432_861 % 10**digits:0{digits}d}"

# Share of households per desil 1..10: the registry is about the poorer half.
DESIL_WEIGHTS = (16, 15, 14, 12, 10, 9, 8, 6, 5, 5)

# DTKS relation-to-head codes (HubKRT) and the hub's names for them.
RELATION_CODES = {
    "HEAD": 1, "SPOUSE": 2, "CHILD": 3, "CHILD_IN_LAW": 4, "GRANDCHILD": 5, "PARENT": 6,
    "OTHER": 8,
}


@dataclass(frozen=True)
class NoiseProfile:
    """How wrong each agency's copy is. `default` follows public reports; `harsh` is a
    district whose registries were never cleaned."""

    dtks_invalid_nik: float = 0.17
    dtks_duplicate_nik: float = 0.01
    dtks_nik_typo: float = 0.01
    dtks_duplicate_person: float = 0.005
    # NoKK left blank or one digit off (enumerators copy it by hand, as they do the NIK).
    # An assumed rate: no public figure separates it from the invalid NIKs.
    dtks_kk_problem: float = 0.04
    name_variant: float = 0.10
    name_typo: float = 0.04
    unknown_birth_date: float = 0.03
    swapped_day_month: float = 0.01
    death_rate: float = 0.015
    dtks_sees_death: float = 0.30
    dukcapil_sees_death: float = 0.95
    bpjs_sees_death: float = 0.50
    moved_households: float = 0.02
    shared_dwelling: float = 0.05    # a second family (own KK) living in the same house
    education_missing_nik: float = 0.08
    baznas_missing_nik: float = 0.35
    baznas_nik_typo: float = 0.10

    @classmethod
    def named(cls, name: str) -> NoiseProfile:
        if name == "default":
            return cls()
        if name == "harsh":
            return cls(
                dtks_invalid_nik=0.30, dtks_duplicate_nik=0.03, dtks_nik_typo=0.03,
                dtks_duplicate_person=0.02, dtks_kk_problem=0.12,
                name_variant=0.25, name_typo=0.10, unknown_birth_date=0.08,
                swapped_day_month=0.03, dtks_sees_death=0.10, bpjs_sees_death=0.30,
                moved_households=0.06, shared_dwelling=0.08, education_missing_nik=0.20,
                baznas_missing_nik=0.55,
                baznas_nik_typo=0.20,
            )
        raise ValueError(f"unknown noise profile {name!r}: use 'default' or 'harsh'")


@dataclass
class PersonTruth:
    id: int
    household_id: int
    nik: str
    kk: str
    name: str
    sex: Sex
    birth_date: date
    birth_place: str
    relation: str
    alive: bool = True
    death_date: date | None = None
    mother_name: str | None = None
    nisn: str | None = None
    bpjs_card: str | None = None

    def age(self, on: date = REFERENCE_DATE) -> int:
        had_birthday = (on.month, on.day) >= (self.birth_date.month, self.birth_date.day)
        return on.year - self.birth_date.year - (0 if had_birthday else 1)


@dataclass
class EnrollmentTruth:
    person_id: int
    program: str
    status: str
    card_number: str | None
    period_start: date
    source: str


@dataclass
class HouseholdTruth:
    id: int
    kk: str
    village: Region
    address: str
    desil: int
    members: list[PersonTruth] = field(default_factory=list)
    enrollments: list[EnrollmentTruth] = field(default_factory=list)
    moved_from: Region | None = None
    dwelling_id: int = 0  # DTKS lists families sharing a house under one IDBDT

    @property
    def head(self) -> PersonTruth:
        return self.members[0]


@dataclass
class AgencyRecord:
    source: str        # dtks_household, dtks_individual, dukcapil, bpjs, education, baznas
    source_key: str
    person_id: int | None
    household_id: int
    payload: dict[str, object]


@dataclass
class HouseholdBundle:
    truth: HouseholdTruth
    agency_records: list[AgencyRecord]


@lru_cache(maxsize=1)
def _names() -> dict[str, dict]:
    text = resources.files("hub.simulators").joinpath("data/names.json").read_text()
    return json.loads(text)


class PopulationGenerator:
    """Yields one HouseholdBundle at a time; holds only counters between households."""

    def __init__(
        self,
        regency_code: str,
        households: int,
        seed: int,
        noise: NoiseProfile | None = None,
        first_household_id: int = 1,
        first_person_id: int = 1,
    ) -> None:
        regions = catalog()
        regency = regions.get(regency_code)
        if regency is None or not regency.children:
            known = ", ".join(f"{r.code} {r.name}" for r in regions.regencies())
            raise ValueError(f"no village data for regency {regency_code!r}; known: {known}")
        self.regency = regency
        self.villages = regions.villages_of(regency_code)
        self.culture = regency.culture or "javanese"
        self.households = households
        self.noise = noise or NoiseProfile()
        self.rng = random.Random(f"{seed}:{regency_code}")
        self._next_household = first_household_id
        self._next_person = first_person_id
        self._nik_serials: dict[str, int] = {}
        self._kk_serials: dict[str, int] = {}
        self._recent_niks: list[str] = []  # a small window to copy duplicate NIKs from
        self._last_household: HouseholdTruth | None = None
        self._dwelling: dict[str, Any] | None = None  # the DTKS dwelling last written

    # -- identity ---------------------------------------------------------------------

    def _nik(self, district: str, born: date, sex: Sex) -> str:
        prefix = build_nik(district, born, sex, 1)[:12]
        serial = self._nik_serials.get(prefix, 0) + 1
        self._nik_serials[prefix] = serial
        return build_nik(district, born, sex, serial)

    def _kk(self, district: str) -> str:
        issued = REFERENCE_DATE - timedelta(days=self.rng.randint(30, 365 * 15))
        key = district + issued.isoformat()
        serial = self._kk_serials.get(key, 0) + 1
        self._kk_serials[key] = serial
        return build_kk(district, issued, serial)

    def _birth(self, age: int) -> date:
        return REFERENCE_DATE - timedelta(days=age * 365 + self.rng.randint(0, 364))

    def _name(self, sex: Sex, born: date) -> str:
        pool = _names()["modern" if born.year >= 1995 else self.culture]
        given = pool["male" if sex is Sex.MALE else "female"]
        tokens = [self.rng.choice(given)]
        if self.rng.random() < (0.85 if born.year >= 1995 else 0.45):
            second = pool["surname"] if sex is Sex.MALE else pool["female_surname"]
            tokens.append(self.rng.choice(second))
        if born.year >= 2000 and self.rng.random() < 0.25:
            tokens.insert(0, "Muhammad" if sex is Sex.MALE else "Nur")
        if self.culture == "bugis_makassar" and sex is Sex.MALE and self.rng.random() < 0.1:
            tokens.insert(0, "Andi")
        # A name does not repeat a word ("Siti Siti").
        return " ".join(dict.fromkeys(tokens))

    # -- households -------------------------------------------------------------------

    def __iter__(self) -> Iterator[HouseholdBundle]:
        for _ in range(self.households):
            truth = self._household()
            yield HouseholdBundle(truth, list(self._agency_views(truth)))

    def _household(self) -> HouseholdTruth:
        rng = self.rng
        village = rng.choice(self.villages)
        address = (
            f"Dusun {rng.choice(['Krajan', 'Tengah', 'Kidul', 'Lor', 'Wetan', 'Kulon', 'Baru'])}"
            f" RT {rng.randint(1, 12):03d} RW {rng.randint(1, 6):03d}"
        )
        hid = self._next_household
        self._next_household += 1
        dwelling = hid
        last = self._last_household
        if last and not last.moved_from and rng.random() < self.noise.shared_dwelling:
            # A second family with its own KK in the same house (a married child, say).
            village, address, dwelling = last.village, last.address, last.dwelling_id
        district = village.parent_code or ""
        desil = rng.choices(range(1, 11), weights=DESIL_WEIGHTS)[0]
        kk = self._kk(district)
        household = HouseholdTruth(hid, kk, village, address, desil, dwelling_id=dwelling)
        self._last_household = household
        if dwelling == hid and rng.random() < self.noise.moved_households:
            household.moved_from = rng.choice(self.villages)

        head_age = max(19, min(85, int(rng.triangular(20, 85, 42))))
        head_sex = Sex.MALE if rng.random() < 0.85 else Sex.FEMALE
        head = self._person(household, district, head_sex, head_age, "HEAD")
        spouse = None
        if head_sex is Sex.MALE and rng.random() < 0.88:
            spouse_age = max(17, head_age - max(-3, int(rng.gauss(4, 4))))
            spouse = self._person(household, district, Sex.FEMALE, spouse_age, "SPOUSE")
        mother = spouse if spouse else (head if head_sex is Sex.FEMALE else None)
        mother_age = mother.age() if mother else head_age
        fertile_years = max(0, min(mother_age, 50) - 18)
        children = min(fertile_years // 2, int(rng.choices(range(6), (10, 20, 30, 22, 12, 6))[0]))
        for _ in range(children):
            age = rng.randint(0, max(0, min(fertile_years, 30)))
            child = self._person(household, district, rng.choice(list(Sex)), age, "CHILD")
            child.mother_name = mother.name if mother else None
        if head_age < 60 and rng.random() < 0.10:
            self._person(household, district, rng.choice(list(Sex)), head_age + 25, "PARENT")
        if head_age > 50 and rng.random() < 0.15:
            self._person(household, district, rng.choice(list(Sex)), rng.randint(0, 8),
                         "GRANDCHILD")
        self._deaths(household)
        self._enroll(household)
        return household

    def _person(
        self, household: HouseholdTruth, district: str, sex: Sex, age: int, relation: str
    ) -> PersonTruth:
        born = self._birth(min(age, 95))
        pid = self._next_person
        self._next_person += 1
        # Most people were registered where they live; some elsewhere in the regency.
        nik_district = district if self.rng.random() < 0.9 else (
            self.rng.choice(self.villages).parent_code or district
        )
        person = PersonTruth(
            id=pid,
            household_id=household.id,
            nik=self._nik(nik_district, born, sex),
            kk=household.kk,
            name=self._name(sex, born),
            sex=sex,
            birth_date=born,
            birth_place=self._birth_place(household),
            relation=relation,
        )
        if 6 <= person.age() <= 18:
            person.nisn = f"{born.year % 100:03d}{scrambled(pid, 7)}"
        household.members.append(person)
        return person

    def _birth_place(self, household: HouseholdTruth) -> str:
        if self.rng.random() < 0.85:
            district = catalog().get(household.village.parent_code or "")
            return district.name if district else household.village.name
        return self.rng.choice(["Jakarta", "Surabaya", "Semarang", "Bandung", "Makassar",
                                "Palembang", "Medan", "Denpasar"])

    def _deaths(self, household: HouseholdTruth) -> None:
        for person in household.members:
            old = person.age() >= 60
            rate = self.noise.death_rate * (4 if old else 0.3)
            if self.rng.random() < rate:
                person.alive = False
                person.death_date = REFERENCE_DATE - timedelta(days=self.rng.randint(10, 700))

    def _enroll(self, household: HouseholdTruth) -> None:
        rng, desil = self.rng, household.desil
        pbi_share = 0.80 if desil <= 4 else 0.40 if desil <= 6 else 0.05
        household_has_pbi = rng.random() < pbi_share
        start = date(REFERENCE_DATE.year - rng.randint(0, 6), 1, 1)
        for person in household.members:
            # The whole family is enrolled together, but newborns and stragglers lag.
            if household_has_pbi and rng.random() < 0.95:
                card = "000" + scrambled(person.id, 10)
                person.bpjs_card = card
                household.enrollments.append(
                    EnrollmentTruth(person.id, "PBI_JKN", "ACTIVE", card, start, "bpjs")
                )
            if person.nisn and desil <= 4 and rng.random() < 0.65:
                household.enrollments.append(
                    EnrollmentTruth(person.id, "KIP_PIP", "ACTIVE",
                                    "KIP" + scrambled(person.id, 8), start, "education")
                )
        head = household.head
        has_dependants = any(p.age() < 18 or p.age() >= 70 for p in household.members)
        if desil <= 3 and has_dependants and rng.random() < 0.5:
            household.enrollments.append(
                EnrollmentTruth(head.id, "PKH", "ACTIVE", None, start, "dtks")
            )
        if desil <= 4 and rng.random() < 0.6:
            household.enrollments.append(
                EnrollmentTruth(head.id, "BPNT", "ACTIVE", None, start, "dtks")
            )
        if desil <= 3 and rng.random() < 0.05:
            household.enrollments.append(
                EnrollmentTruth(head.id, "BAZNAS", "ACTIVE", None, start, "baznas")
            )

    # -- agency views -----------------------------------------------------------------

    def _agency_views(self, hh: HouseholdTruth) -> Iterator[AgencyRecord]:
        yield from self._dukcapil(hh)
        yield from self._dtks(hh)
        yield from self._bpjs(hh)
        yield from self._education(hh)
        yield from self._baznas(hh)

    def _dukcapil(self, hh: HouseholdTruth) -> Iterator[AgencyRecord]:
        """The civil registry: official names in capitals, current address, most deaths."""
        v = hh.village.code.split(".")
        for p in hh.members:
            dead_known = not p.alive and self.rng.random() < self.noise.dukcapil_sees_death
            yield AgencyRecord("dukcapil", p.nik, p.id, hh.id, {
                "NIK": p.nik, "NO_KK": p.kk, "NAMA_LGKP": p.name.upper(),
                "TMPT_LHR": p.birth_place.upper(), "TGL_LHR": p.birth_date.strftime("%d-%m-%Y"),
                "JENIS_KLMIN": "LAKI-LAKI" if p.sex is Sex.MALE else "PEREMPUAN",
                "STAT_HBKEL": p.relation, "ALAMAT": hh.address.upper(),
                "NO_PROP": int(v[0]), "NO_KAB": int(v[1]), "NO_KEC": int(v[2]),
                "NO_KEL": int(v[3]),
                "NAMA_LGKP_IBU": (p.mother_name or "").upper() or None,
                "STATUS_HIDUP": "MATI" if dead_known else "HIDUP",
                "TGL_KMT": p.death_date.strftime("%d-%m-%Y") if dead_known and p.death_date
                else None,
            })

    def _dtks(self, hh: HouseholdTruth) -> Iterator[AgencyRecord]:
        """The poverty registry: entered by enumerators, so NIKs, names and dates drift.

        DTKS counts dwellings (IDBDT), not families: a second family with its own KK in
        the same house is listed under the first one's IDBDT, and the dwelling's row is
        revised (Jumlah_Keluarga 2), so one household may hold several KKs."""
        rng, noise = self.rng, self.noise
        listed = [p for p in hh.members if p.alive or rng.random() > noise.dtks_sees_death]
        # Some people are entered twice (a second enumeration, a married child still on
        # the parents' card): another row, another spelling, the same person.
        twice = [p for p in listed if rng.random() < noise.dtks_duplicate_person]
        programs = {(e.person_id, e.program) for e in hh.enrollments}
        household_programs = {e.program for e in hh.enrollments}
        shared = self._dwelling is not None and self._dwelling["id"] == hh.dwelling_id != hh.id
        if shared:
            dwelling = self._dwelling
        else:
            village = hh.moved_from or hh.village
            dwelling = self._dwelling = {
                "id": hh.id, "head": hh.head, "village": village.code.split("."),
                "address": hh.address, "desil": hh.desil, "families": 0, "rows": 0,
                "programs": set(),
                "idbdt": f"{hh.village.code.replace('.', '')[:4]}{hh.id:010d}",
            }
        idbdt = dwelling["idbdt"]
        dwelling["families"] += 1
        dwelling["programs"] |= household_programs
        for p in listed + twice:
            dwelling["rows"] += 1
            key = f"{idbdt}{dwelling['rows']:02d}"
            relation = "OTHER" if shared else p.relation
            yield AgencyRecord("dtks_individual", key, p.id, hh.id, {
                "IDARTBDT": key, "IDBDT": idbdt, "NIK": self._dtks_nik(p.nik),
                "NoKK": self._dtks_kk(p.kk), "Nama": self._noisy_name(p.name),
                "JnsKel": 1 if p.sex is Sex.MALE else 2, "TmpLahir": p.birth_place,
                "TglLahir": self._noisy_date(p.birth_date),
                "HubKRT": RELATION_CODES[relation], "Umur": p.age(),
                "Ada_pbi": int((p.id, "PBI_JKN") in programs),
                "Ada_kip": int((p.id, "KIP_PIP") in programs),
                "Ada_pkh": int("PKH" in household_programs),
                "Ada_bpnt": int("BPNT" in household_programs),
            })
        v, dwelling_programs = dwelling["village"], dwelling["programs"]
        yield AgencyRecord("dtks_household", idbdt, None, dwelling["id"], {
            "IDBDT": idbdt, "KDPROP": v[0], "KDKAB": v[1], "KDKEC": v[2], "KDDESA": v[3],
            "Alamat": dwelling["address"], "Nama_KRT": self._noisy_name(dwelling["head"].name),
            "Jumlah_ART": dwelling["rows"], "Jumlah_Keluarga": dwelling["families"],
            "Sta_kis": int("PBI_JKN" in dwelling_programs),
            "Sta_kip": int("KIP_PIP" in dwelling_programs),
            "Sta_pkh": int("PKH" in dwelling_programs),
            "Sta_bpnt": int("BPNT" in dwelling_programs),
            "Percentile": min(100, dwelling["desil"] * 10 - rng.randint(0, 9)),
            "Desil": dwelling["desil"],
        })

    def _bpjs(self, hh: HouseholdTruth) -> Iterator[AgencyRecord]:
        """JKN membership: verified against Dukcapil at enrolment, late to see deaths."""
        for p in hh.members:
            if not p.bpjs_card:
                continue
            active = p.alive or self.rng.random() > self.noise.bpjs_sees_death
            yield AgencyRecord("bpjs", p.bpjs_card, p.id, hh.id, {
                "noKartu": p.bpjs_card, "nama": p.name.upper(), "nik": p.nik,
                "sex": "L" if p.sex is Sex.MALE else "P", "tglLahir": p.birth_date.isoformat(),
                "statusPeserta": {"kode": "0" if active else "1",
                                  "keterangan": "AKTIF" if active else "MENINGGAL"},
                "jenisPeserta": {"kode": "21", "keterangan": "PBI (APBN)"},
                "hakKelas": {"kode": "3", "keterangan": "KELAS III"},
                "provUmum": {"kdProvider": hh.village.code.replace(".", "")[:6] + "01",
                             "nmProvider": f"PUSKESMAS {hh.village.name.upper()}"},
            })

    def _education(self, hh: HouseholdTruth) -> Iterator[AgencyRecord]:
        rng, noise = self.rng, self.noise
        kip = {e.person_id: e.card_number for e in hh.enrollments if e.program == "KIP_PIP"}
        for p in hh.members:
            if not p.nisn or not p.alive:
                continue
            grade = max(1, min(12, p.age() - 6))
            nik: str | None = p.nik
            if rng.random() < noise.education_missing_nik:
                nik = None
            pupil = f"pd-{scrambled(p.id, 12)}"
            yield AgencyRecord("education", pupil, p.id, hh.id, {
                "peserta_didik_id": pupil, "nisn": p.nisn, "nik": nik,
                "nama": self._noisy_name(p.name), "tanggal_lahir": p.birth_date.isoformat(),
                "nama_ibu": p.mother_name, "tingkat_pendidikan_id": grade,
                "nama_rombel": f"Kelas {grade}{rng.choice('ABC')}", "no_kk": p.kk,
                # The school's region, in the education ministry's own code, space-padded.
                "kode_wilayah": education_district(hh.village.parent_code or "") + "  ",
                "layak_pip": hh.desil <= 4, "penerima_kip": p.id in kip,
                "no_kip": kip.get(p.id),
            })

    def _baznas(self, hh: HouseholdTruth) -> Iterator[AgencyRecord]:
        rng, noise = self.rng, self.noise
        for e in hh.enrollments:
            if e.program != "BAZNAS":
                continue
            head = hh.head
            nik: str | None = head.nik
            roll = rng.random()
            if roll < noise.baznas_missing_nik:
                nik = None
            elif roll < noise.baznas_missing_nik + noise.baznas_nik_typo:
                nik = _typo_digit(rng, head.nik)
            key = f"MUS-{hh.village.code.replace('.', '')}-{scrambled(head.id, 8)}"
            yield AgencyRecord("baznas", key, head.id, hh.id, {
                "id_mustahik": key, "nik": nik, "nama": self._noisy_name(head.name, 2.0),
                "asnaf": rng.choice(["Fakir", "Miskin", "Miskin", "Gharimin", "Ibnu Sabil"]),
                "program": rng.choice(["Indonesia Peduli", "Indonesia Sehat", "Indonesia Makmur",
                                       "Indonesia Cerdas", "Indonesia Taqwa"]),
                "jumlah_bantuan": rng.choice([300_000, 500_000, 1_000_000, 2_500_000]),
                "tanggal_bantuan": e.period_start.isoformat(),
                "alamat": hh.address, "kode_desa": hh.village.code.replace(".", ""),
            })

    # -- noise --------------------------------------------------------------------------

    def _dtks_nik(self, nik: str) -> str:
        rng, noise = self.rng, self.noise
        self._recent_niks.append(nik)
        if len(self._recent_niks) > 64:
            self._recent_niks.pop(0)
        roll = rng.random()
        if roll < noise.dtks_invalid_nik:
            return _invalid_nik(rng, nik)
        roll -= noise.dtks_invalid_nik
        if roll < noise.dtks_duplicate_nik and len(self._recent_niks) > 1:
            return rng.choice(self._recent_niks[:-1])
        roll -= noise.dtks_duplicate_nik
        if roll < noise.dtks_nik_typo:
            return _typo_digit(rng, nik)
        return nik

    def _dtks_kk(self, kk: str) -> str:
        rng = self.rng
        if rng.random() >= self.noise.dtks_kk_problem:
            return kk
        return "" if rng.random() < 0.5 else _typo_digit(rng, kk)

    def _noisy_name(self, name: str, weight: float = 1.0) -> str:
        rng, noise = self.rng, self.noise
        roll = rng.random()
        if roll < noise.name_variant * weight:
            return _name_variant(rng, name)
        if roll < (noise.name_variant + noise.name_typo) * weight:
            return _name_typo(rng, name)
        return name

    def _noisy_date(self, born: date) -> str:
        rng, noise = self.rng, self.noise
        roll = rng.random()
        if roll < noise.unknown_birth_date:
            guess = date(born.year, 7, 1) if rng.random() < 0.6 else date(born.year, 12, 31)
            return guess.strftime("%d-%m-%Y")
        if roll < noise.unknown_birth_date + noise.swapped_day_month and born.day <= 12:
            return f"{born.month:02d}-{born.day:02d}-{born.year}"
        return born.strftime("%d-%m-%Y")


def _invalid_nik(rng: random.Random, nik: str) -> str:
    kind = rng.randrange(6)
    if kind == 0:
        return ""
    if kind == 1:
        cut = rng.randrange(16)
        return nik[:cut] + nik[cut + 1 :]
    if kind == 2:
        return nik.replace("0", "O", 1) if "0" in nik else nik[:15] + "O"
    if kind == 3:
        return f"{int(nik):.15e}".replace("e+", "E+")   # a spreadsheet ate it
    if kind == 4:
        return nik[:12] + "0000"
    return nik[:6] + "00" + nik[8:]                    # no day 00


def _typo_digit(rng: random.Random, nik: str) -> str:
    pos = rng.randrange(12, 16)  # serial digits: still a valid-looking NIK
    digit = str((int(nik[pos]) + rng.randint(1, 9)) % 10)
    typo = nik[:pos] + digit + nik[pos + 1 :]
    return typo if typo[12:] != "0000" else nik[:15] + "1"


def _name_variant(rng: random.Random, name: str) -> str:
    nicknames = _names()["nicknames"]
    tokens = name.split()
    for i, token in enumerate(tokens):
        options = nicknames.get(token.upper())
        if options:
            tokens[i] = rng.choice(options)
            return " ".join(tokens)
    roll = rng.random()
    if roll < 0.3:
        return name.upper()
    if roll < 0.5 and len(tokens) > 1:
        return "".join(tokens[:2]) + (" " + " ".join(tokens[2:]) if len(tokens) > 2 else "")
    if roll < 0.7:
        return ("Hj. " if rng.random() < 0.5 else "H. ") + name
    old = name.replace("u", "oe").replace("j", "dj").replace("c", "tj")
    return old if old != name else name + ", S.Pd."


def _name_typo(rng: random.Random, name: str) -> str:
    if len(name) < 4:
        return name
    pos = rng.randrange(1, len(name) - 1)
    kind = rng.randrange(3)
    if kind == 0:
        return name[:pos] + name[pos + 1] + name[pos] + name[pos + 2 :]
    if kind == 1:
        return name[:pos] + name[pos + 1 :]
    return name[:pos] + name[pos] + name[pos:]
