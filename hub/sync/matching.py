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

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hub.domain.matchkeys import MatchFeatures, corroborated
from hub.sync.clustering import Assignment, Edge, cluster
from hub.sync.linkage import LinkageEngine, Prediction

LINKAGE_COLUMNS = ("name_norm", "name_key", "first_name", "birth_date", "birth_year", "sex",
                   "nik", "nik12", "kk", "village_code", "district_code", "regency_code")


def linkage_row(record_id: int, f: MatchFeatures, frequency: float) -> dict[str, Any]:
    return {
        "unique_id": record_id, "name_norm": f.name_norm, "name_key": f.name_key,
        "first_name": f.first_name, "birth_date": f.birth_date, "birth_year": f.birth_year,
        "sex": f.sex, "nik": f.nik, "nik12": f.nik12, "kk": f.kk,
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
    )


def nik_edges(pending: Mapping[int, MatchFeatures],
              existing: Mapping[int, MatchFeatures]) -> tuple[list[Edge], list[tuple[int, int]]]:
    """Corroborated same-NIK pairs (links) and uncorroborated ones (NIK conflicts)."""
    by_nik: dict[str, list[int]] = defaultdict(list)
    for record, f in [*pending.items(), *existing.items()]:
        if f.nik:
            by_nik[f.nik].append(record)
    every = {**existing, **pending}
    links: list[Edge] = []
    conflicts: list[tuple[int, int]] = []
    for records in by_nik.values():
        for i, a in enumerate(records):
            for b in records[i + 1:]:
                if a not in pending and b not in pending:
                    continue
                if corroborated(every[a], every[b]):
                    links.append(Edge(min(a, b), max(a, b), 1.0, "NIK"))
                else:
                    conflicts.append((min(a, b), max(a, b)))
    return links, conflicts


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
    counts: dict[str, int] = field(default_factory=dict)


def resolve(
    pending: Mapping[int, MatchFeatures],
    existing: Mapping[int, tuple[int, MatchFeatures]],
    frequencies: Mapping[str, float],
    engine: LinkageEngine,
    *,
    upper: float,
    lower: float,
    unique_sources: Sequence[str],
    forbidden: Iterable[tuple[int, int]] = (),
) -> MatchOutcome:
    """Link `pending` records among themselves and to `existing` (record -> (person,
    features)) ones. `engine` must hold a trained model."""
    existing_features = {record: f for record, (_, f) in existing.items()}
    left = [linkage_row(r, f, frequencies.get(f.name_norm, 0.0)) for r, f in pending.items()]
    right = [linkage_row(r, f, frequencies.get(f.name_norm, 0.0))
             for r, f in existing_features.items()]
    predictions = engine.predict(left, right, threshold=lower) if left else []
    links, conflicts = nik_edges(pending, existing_features)
    edges = links + [Edge(p.left, p.right, p.probability, "PROBABILISTIC") for p in predictions]
    sources = {r: f.source for r, f in {**existing_features, **pending}.items()}
    assignment = cluster(
        pending, {r: person for r, (person, _) in existing.items()}, sources, edges,
        threshold=upper, unique_sources=unique_sources, forbidden=list(forbidden),
    )
    reviews = _reviews(predictions, assignment, pending, existing, upper)
    counts = {
        "linked_nik": sum(1 for m in assignment.method.values() if m == "NIK"),
        "linked_probabilistic": sum(1 for m in assignment.method.values()
                                    if m == "PROBABILISTIC"),
        "new_persons": len(set(assignment.new_cluster.values())),
        "review_pairs": len(reviews),
        "refused_edges": len(assignment.refused),
    }
    return MatchOutcome(assignment, reviews, conflicts, len(predictions), counts)


def _reviews(predictions: Sequence[Prediction], assignment: Assignment,
             pending: Mapping[int, MatchFeatures],
             existing: Mapping[int, tuple[int, MatchFeatures]],
             upper: float) -> list[ReviewPair]:
    """Uncertain pairs (and refused strong ones) whose records ended up apart."""
    def where(record: int) -> tuple[str, int] | None:
        if record in existing:
            return ("person", existing[record][0])
        if record in assignment.person:
            return ("person", assignment.person[record])
        if record in assignment.new_cluster:
            return ("new", assignment.new_cluster[record])
        return None

    refused = {(e.left, e.right) for e in assignment.refused}
    best: dict[tuple[int, tuple[str, int] | None], ReviewPair] = {}
    for p in predictions:
        a, b = where(p.left), where(p.right)
        if a == b:
            continue
        if p.probability >= upper and (p.left, p.right) not in refused:
            continue
        # The pending record is the one to review; against the other's person.
        record, other = (p.right, p.left) if p.right in pending else (p.left, p.right)
        key = (record, where(other))
        if key not in best or best[key].probability < p.probability:
            best[key] = ReviewPair(record, other, p.probability, p.evidence)
    return list(best.values())
