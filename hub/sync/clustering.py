"""From scored pairs to persons: constrained connected components.

Plain connected components let one wrong edge merge two families into one "person".
Edges are taken strongest first and an edge is refused when it would put into one
cluster two records that cannot be one person: two civil-registry records (Dukcapil
has one record per person), a pair a steward said are different, or two persons the
hub already knows (merging those is a steward's call, offered as a review task).
Pure: records, edges and constraints in; an assignment out.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Edge:
    left: int
    right: int
    probability: float
    method: str  # NIK or PROBABILISTIC


@dataclass
class _Cluster:
    """A cluster's view for the constraints; a lone record without constraints needs
    none (most records, at a million of them, should cost a dict entry, not an object)."""

    records: list[int]
    person: int | None = None
    unique_sources: set[str] = field(default_factory=set)


@dataclass
class Assignment:
    """Where each pending record goes: an existing person, or a new cluster (numbered
    from 0) that becomes a new person; with the edge that put it there."""

    person: dict[int, int]
    new_cluster: dict[int, int]
    method: dict[int, str]
    score: dict[int, float]
    refused: list[Edge]


class _Clusters:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}
        self.data: dict[int, _Cluster] = {}  # roots that are more than a bare record

    def add(self, record: int, person: int | None, unique_source: str | None) -> None:
        self.parent[record] = record
        if person is not None or unique_source:
            self.data[record] = _Cluster([record], person,
                                         {unique_source} if unique_source else set())

    def view(self, root: int) -> _Cluster:
        return self.data.get(root) or _Cluster([root])

    def size(self, root: int) -> int:
        found = self.data.get(root)
        return len(found.records) if found else 1

    def find(self, node: int) -> int:
        root = node
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[node] != root:
            self.parent[node], node = root, self.parent[node]
        return root

    def union(self, a: int, b: int) -> None:
        big, small = (a, b) if self.size(a) >= self.size(b) else (b, a)
        self.parent[small] = big
        merged, gone = self.view(big), self.data.pop(small, None) or _Cluster([small])
        merged.records.extend(gone.records)
        merged.unique_sources |= gone.unique_sources
        merged.person = merged.person if merged.person is not None else gone.person
        self.data[big] = merged


def cluster(
    pending: Iterable[int],
    existing: Mapping[int, int],
    sources: Mapping[int, str],
    edges: Iterable[Edge],
    *,
    threshold: float,
    unique_sources: Collection[str] = ("dukcapil",),
    forbidden: Collection[tuple[int, int]] = (),
) -> Assignment:
    """Assign `pending` records given `existing` (record -> person) ones.

    Existing records of one person start as one cluster. Edges below `threshold` are
    ignored here (they become review tasks)."""
    clusters = _Clusters()
    anchor: dict[int, int] = {}
    for record, person in existing.items():
        source = sources.get(record)
        unique = source if source in unique_sources else None
        if person in anchor:
            clusters.add(record, person, None)
            root = clusters.find(anchor[person])
            clusters.union(root, record)
            if unique:
                clusters.data[clusters.find(record)].unique_sources.add(unique)  # a root
        else:
            anchor[person] = record
            clusters.add(record, person, unique)
    pending = list(pending)
    for record in pending:
        source = sources.get(record)
        clusters.add(record, None, source if source in unique_sources else None)
    barred: dict[int, set[int]] = {}
    for record, person in forbidden:
        barred.setdefault(record, set()).add(person)

    method: dict[int, str] = {}
    score: dict[int, float] = {}
    refused: list[Edge] = []
    ordered = sorted((e for e in edges if e.probability >= threshold),
                     key=lambda e: (e.method != "NIK", -e.probability, e.left, e.right))
    for edge in ordered:
        if edge.left not in clusters.parent or edge.right not in clusters.parent:
            continue
        a, b = clusters.find(edge.left), clusters.find(edge.right)
        if a == b:
            continue
        if _conflict(clusters.view(a), clusters.view(b), barred):
            refused.append(edge)
            continue
        clusters.union(a, b)
        for record in (edge.left, edge.right):
            if record not in existing and record not in method:
                method[record] = edge.method
                score[record] = edge.probability

    person: dict[int, int] = {}
    new_cluster: dict[int, int] = {}
    numbering: dict[int, int] = {}
    for record in pending:
        root = clusters.find(record)
        owner = clusters.view(root).person
        if owner is not None:
            person[record] = owner
        else:
            new_cluster[record] = numbering.setdefault(root, len(numbering))
        method.setdefault(record, "NEW")
        score.setdefault(record, 1.0)
    return Assignment(person, new_cluster, method, score, refused)


def _conflict(a: _Cluster, b: _Cluster, barred: Mapping[int, set[int]]) -> bool:
    if a.person is not None and b.person is not None and a.person != b.person:
        return True
    if a.unique_sources & b.unique_sources:
        return True
    for left, right in ((a, b), (b, a)):
        if right.person is not None and any(
            right.person in barred.get(record, ()) for record in left.records
        ):
            return True
    return False
