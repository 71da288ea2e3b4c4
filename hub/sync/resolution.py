"""Entity resolution of staged person-records.

1. A structurally valid NIK shared by two records, corroborated by the name or the
   birth date, links them outright (method NIK).
2. Everything else is scored by the Fellegi-Sunter model (`linkage`), trained on the
   registry itself and versioned in the database.
3. Pairs at or above the upper threshold link; constrained clustering (`clustering`)
   turns links into persons; pairs between the thresholds that ended up apart become
   review tasks with their per-field evidence; the rest start new persons.

This module decides; `reconcile` writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hub.domain.matchkeys import MatchFeatures
from hub.sync.clustering import Assignment, Edge, cluster
from hub.sync.scoring import Input, LinkageEngine
from hub.sync.timing import Clock

LINKAGE_COLUMNS = ("name_norm", "name_key", "first_name", "birth_date", "birth_year", "sex",
                   "nik", "nik12", "kk", "relatives", "village_code", "district_code",
                   "regency_code")


def linkage_row(record_id: int, f: MatchFeatures, frequency: float) -> dict[str, Any]:
    return {
        "unique_id": record_id, "name_norm": f.name_norm, "name_key": f.name_key,
        "first_name": f.first_name, "birth_date": f.birth_date, "birth_year": f.birth_year,
        "sex": f.sex, "nik": f.nik, "nik12": f.nik12, "kk": f.kk, "relatives": f.relatives,
        "village_code": f.village_code, "district_code": f.district_code,
        "regency_code": f.regency_code, "tf_name_norm": frequency,
    }


def features_from_key(row: Mapping[str, Any]) -> MatchFeatures:
    """A stored match key back as features (the columns `MatchKey` keeps)."""
    district = row["district_code"]
    tokens = row["name_norm"].split()
    return MatchFeatures(
        source=row["source"], nik=row["nik"], name_norm=row["name_norm"],
        name_key=row["name_key"], first_name=tokens[0] if tokens else None,
        birth_date=row["birth_date"], birth_year=row["birth_year"], sex=row["sex"],
        village_code=row["village_code"], district_code=district,
        regency_code=".".join(district.split(".")[:2]) if district else None, kk=row["kk"],
        relatives=row.get("relatives"),
    )


@dataclass
class ReviewPair:
    record: int
    other: int
    probability: float
    evidence: dict[str, Any]


@dataclass
class MatchOutcome:
    assignment: Assignment
    reviews: list[ReviewPair]
    nik_conflicts: list[tuple[int, int]]
    predictions: int
    counts: dict[str, float] = field(default_factory=dict)


def resolve(
    pending: Input,
    pending_ids: Sequence[int],
    existing: Input | None,
    existing_person: Mapping[int, int],
    unique: Mapping[int, str],
    engine: LinkageEngine,
    *,
    upper: float,
    lower: float,
    unique_sources: Sequence[str],
    forbidden: Iterable[tuple[int, int]] = (),
) -> MatchOutcome:
    """Link the `pending` records among themselves and to `existing` ones (whose
    persons `existing_person` gives). `unique` names the source of each record from a
    one-record-per-person source. `engine` must hold a trained model."""
    clock = Clock()
    left = engine.load(pending)
    right = engine.load(existing) if existing is not None else None
    links, conflicts = engine.nik_pairs(left, right)
    clock.lap("nik")
    scored = engine.predict_edges(left, right, threshold=lower) if pending_ids else []
    clock.lap("predict")
    edges = [Edge(a, b, 1.0, "NIK") for a, b in links]
    # Only pairs at or above `upper` can join clusters; the rest are for review only.
    edges += [Edge(a, b, p, "PROBABILISTIC") for a, b, p in scored if p >= upper]
    # Persons no strong edge reaches cannot take part: leaving their records out keeps
    # an incremental run's clustering to its pending records' neighbourhood.
    reached = {existing_person[r] for e in edges for r in (e.left, e.right)
               if r in existing_person}
    assignment = cluster(pending_ids,
                         {r: p for r, p in existing_person.items() if p in reached},
                         unique, edges, threshold=upper,
                         unique_sources=unique_sources, forbidden=list(forbidden))
    clock.lap("cluster")
    reviews = _reviews(scored, assignment, set(pending_ids), existing_person, upper, engine)
    engine.release()
    clock.lap("reviews")
    counts = {
        "linked_nik": sum(1 for m in assignment.method.values() if m == "NIK"),
        "linked_probabilistic": sum(1 for m in assignment.method.values()
                                    if m == "PROBABILISTIC"),
        "new_persons": len(set(assignment.new_cluster.values())),
        "review_pairs": len(reviews),
        "refused_edges": len(assignment.refused),
        "nik_conflicts": len(conflicts),
    } | clock.seconds("match")
    return MatchOutcome(assignment, reviews, conflicts, len(scored), counts)


def _reviews(scored: Sequence[tuple[int, int, float]], assignment: Assignment,
             pending: set[int], existing_person: Mapping[int, int], upper: float,
             engine: LinkageEngine) -> list[ReviewPair]:
    """Uncertain pairs (and refused strong ones) whose records ended up apart."""
    def where(record: int) -> tuple[str, int] | None:
        if record in existing_person:
            return ("person", existing_person[record])
        if record in assignment.person:
            return ("person", assignment.person[record])
        if record in assignment.new_cluster:
            return ("new", assignment.new_cluster[record])
        return None

    refused = {(e.left, e.right) for e in assignment.refused}
    best: dict[tuple[int, tuple[str, int] | None], tuple[int, int, float]] = {}
    for a, b, probability in scored:
        if probability >= upper and (a, b) not in refused:
            continue
        if where(a) == where(b):
            continue
        record, other = (b, a) if b in pending else (a, b)
        key = (record, where(other))
        if key not in best or best[key][2] < probability:
            best[key] = (record, other, probability)
    evidence = engine.evidence([(min(r, o), max(r, o)) for r, o, _ in best.values()])
    out = []
    for record, other, probability in best.values():
        found = evidence.get((min(record, other), max(record, other)))
        out.append(ReviewPair(record, other, probability, found.evidence if found else {}))
    return out
