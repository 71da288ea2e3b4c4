"""The linking phase of a reconciliation run, against the database: read the pending
records in batches, keep their match keys, find the linked records they may match,
resolve (`resolution.resolve`) and write the links and review tasks.

Memory stays bounded by streaming: each batch's features go straight into a columnar
Arrow buffer and the `match_key` table; Python keeps a few integers per record.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.config import HubSettings
from hub.db import bulk
from hub.db.models import LinkDecision, MatchKey, MatchModel, Person, ReviewTask, SourceRecord
from hub.db.statistics import PlannerStatistics, analyze, estimated_rows
from hub.domain.matchkeys import MatchFeatures, features
from hub.domain.provinces import majority_province
from hub.domain.relatives import Family, family_of
from hub.domain.relatives import relatives as relatives_of
from hub.sync import store
from hub.sync.backends import scorer_for
from hub.sync.overlap import in_thread, overlapped
from hub.sync.resolution import LINKAGE_COLUMNS, MatchOutcome, resolve
from hub.sync.scoring import LinkageEngine, current_design, design
from hub.sync.timing import Clock

BATCH = 5000
# A match key row as `_write_records_and_keys` lays it out for COPY.
KEY_ROW = ("record_id", "person_id", "source", "household_key", *store.KEY_COLUMNS)
PERSON_LINK = "fk_source_record_person_id_person"  # source_record.person_id -> person.id
Progress = Callable[[str], None]


@dataclass
class Pending:
    """What the run keeps of the pending records: ids, hashes, earlier persons."""

    ids: list[int] = field(default_factory=list)
    hashes: list[str] = field(default_factory=list)
    previous: dict[int, int] = field(default_factory=dict)
    unique: dict[int, str] = field(default_factory=dict)
    batches: list[pa.RecordBatch] = field(default_factory=list)
    # What a match key keeps beside the linkage columns, in the order of `ids`.
    sources: list[str] = field(default_factory=list)
    household_keys: list[str | None] = field(default_factory=list)
    name_counts: Counter[str] = field(default_factory=Counter)
    # Families the pending records belonged to before (their stored keys said so): a
    # record that left one changes its other members' relatives.
    left_households: set[str] = field(default_factory=set)
    left_kks: set[str] = field(default_factory=set)
    # The linkage input (`batches` with term frequencies): the match keys are written
    # from it once the records have their persons.
    table: pa.Table | None = None


class _Columns:
    """Linkage rows gathered column by column, flushed into Arrow batches."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self.data: dict[str, list[Any]] = {name: [] for name in schema.names}

    def add(self, record: int, f: MatchFeatures) -> None:
        d = self.data
        d["unique_id"].append(record)
        for name in LINKAGE_COLUMNS:
            d[name].append(getattr(f, name))
        d["tf_name_norm"].append(0.0)

    def flush(self) -> pa.RecordBatch | None:
        if not self.data["unique_id"]:
            return None
        batch = pa.RecordBatch.from_pydict(self.data, schema=self.schema)
        self.data = {name: [] for name in self.schema.names}
        return batch


class Linking:
    def __init__(self, settings: HubSettings, person_sources: list[str],
                 household_sources: list[str], statistics: PlannerStatistics) -> None:
        self.settings = settings
        self.person_sources = person_sources
        self.household_sources = household_sources
        self.statistics = statistics

    async def read_pending(self, conn: AsyncConnection, *, full: bool,
                           schema: pa.Schema) -> Pending:
        pending = Pending()
        unique_sources = set(self.settings.matching.unique_sources)
        columns = _Columns(schema)
        batch: list[store.StagedRecord] = []
        taking: asyncio.Future[None] | None = None

        def take(records: list[store.StagedRecord], villages: dict[str, str]) -> None:
            """A batch's features into `pending` and Arrow: pure Python, run in a thread
            while the next batch is read. One at a time, in order, so nothing else
            touches what it appends to."""
            for r in records:
                f = features(r.source, r.normalized,
                             village_code=villages.get(r.normalized.get("household_key")))
                pending.ids.append(r.id)
                pending.hashes.append(r.payload_hash)
                if r.person_id is not None:
                    pending.previous[r.id] = r.person_id
                if r.source in unique_sources:
                    pending.unique[r.id] = r.source
                pending.name_counts[f.name_norm] += 1
                pending.sources.append(f.source)
                pending.household_keys.append(f.household_key)
                columns.add(r.id, f)
            arrow = columns.flush()
            if arrow is not None:
                pending.batches.append(arrow)

        async def flush() -> None:
            nonlocal taking
            records = list(batch)
            batch.clear()
            villages = await self._dtks_villages(conn, records)
            if taking is not None:
                await taking
            taking = in_thread(take, records, villages)
            if not full:  # the new keys go in with the links
                dropped: Counter[str] = Counter()
                for _, among_records in store.among(conn, MatchKey.record_id,
                                                    [r.id for r in records]):
                    for name, household, kk in await conn.execute(
                            delete(MatchKey).where(among_records).returning(
                                MatchKey.name_norm, MatchKey.household_key, MatchKey.kk)):
                        dropped[name] += 1
                        if household:
                            pending.left_households.add(household)
                        if kk:
                            pending.left_kks.add(kk)
                await store.count_names(conn, Counter({n: -c for n, c in dropped.items()}))

        if full:  # every record is re-matched: its old key goes
            await conn.execute(delete(MatchKey).where(MatchKey.record_id.in_(
                select(SourceRecord.id).where(SourceRecord.link_locked.is_(False)))))
        try:
            async for record in store.pending(conn, self.person_sources, full=full):
                batch.append(record)
                if len(batch) == BATCH:
                    await flush()
            if batch:
                await flush()
        finally:  # the last batch's features (or, after an error, the thread in flight)
            if taking is not None:
                await asyncio.wait([taking])
        if taking is not None:
            taking.result()
        return pending

    async def _dtks_villages(self, conn: AsyncConnection,
                             records: list[store.StagedRecord]) -> dict[str, str]:
        keys = {r.normalized.get("household_key") for r in records} - {None}
        out: dict[str, str] = {}
        for source in self.household_sources:
            found = await store.records_by_key(conn, source, keys)
            out |= {k: r.normalized["village_code"] for k, r in found.items()
                    if r.normalized.get("village_code")}
        return out

    async def match(self, conn: AsyncConnection, pending: Pending, *, full: bool,
                    retrain: bool, say: Progress) -> MatchOutcome:
        engine = LinkageEngine(LINKAGE_COLUMNS, scorer=scorer_for(self.settings))
        clock = Clock()
        try:
            relatives = await self._relatives(conn, pending, full=full)
            clock.lap("relatives")
            existing = await (store.anchored_keys(conn) if full
                              else self._candidates(conn, pending))
            clock.lap("candidates")
            records = existing["record_id"]
            existing_person = dict(zip(records, existing["person_id"], strict=True))
            unique = dict(pending.unique)
            unique_sources = set(self.settings.matching.unique_sources)
            unique |= {r: s for r, s in zip(records, existing["source"], strict=True)
                       if s in unique_sources}
            frequencies = await self._frequencies(conn, pending, existing["name_norm"],
                                                  full=full)
            table = _linkage_input(pending.batches, engine.schema(), frequencies, relatives)
            pending.batches = []
            pending.table = table
            others = _existing_table(existing, engine.schema(), frequencies)
            clock.lap("frequencies")
            engine.model = await self._model(conn, engine, table, others, retrain=retrain,
                                             full=full, say=say)
            clock.lap("model")
            decisions = await conn.execute(select(LinkDecision.record_id, LinkDecision.person_id)
                                           .where(LinkDecision.decision == "NOT_LINK"))
            ids = set(pending.ids)
            forbidden = [(r, p) for r, p in decisions if r in ids]
            say(f"matching {len(pending.ids)} records against {len(records)} linked ones")
            m = self.settings.matching
            outcome = resolve(table, pending.ids, others, existing_person, unique, engine,
                              upper=m.upper_threshold, lower=m.lower_threshold,
                              unique_sources=m.unique_sources, forbidden=forbidden)
            outcome.counts |= clock.seconds("match")
            return outcome
        finally:
            engine.close()

    # The blocking rules' keys (hub.sync.scoring.blocking_rules) that an index can serve.
    CANDIDATE_KEYS = (("nik12",), ("nik",), ("kk", "birth_year"),
                      ("name_key", "birth_year", "district_code"),
                      ("name_key", "village_code"), ("village_code", "birth_date"))

    async def _candidates(self, conn: AsyncConnection, pending: Pending) -> store.Keys:
        """Linked records sharing a blocking key with a pending one."""
        table = pa.Table.from_batches(pending.batches)
        keys: dict[tuple[str, ...], set[tuple[Any, ...]]] = {}
        for key in self.CANDIDATE_KEYS:
            columns = [table.column(c).to_pylist() for c in key]
            keys[key] = {value for value in zip(*columns, strict=True)
                         if all(v is not None for v in value)}
        return await store.candidate_keys(conn, exclude=set(pending.ids), keys=keys)

    async def _relatives(self, conn: AsyncConnection, pending: Pending, *,
                         full: bool) -> list[str | None]:
        """The pending records' relatives (in the order of `pending.ids`), from their
        families as this run reads them and as the stored keys hold them; the stored
        keys of those families get their relatives anew."""
        kks: list[str | None] = []
        name_keys: list[str | None] = []
        for batch in pending.batches:
            kks += batch.column("kk").to_pylist()
            name_keys += batch.column("name_key").to_pylist()
        families = [family_of(source, household, kk) for source, household, kk in zip(
            pending.sources, pending.household_keys, kks, strict=True)]
        touched = set(families) | {
            family_of(source, household, None) for source in self.person_sources
            for household in pending.left_households} | {
            family_of(source, None, kk) for source in self.person_sources
            for kk in pending.left_kks}
        touched.discard(None)
        households = {h for h in pending.household_keys if h} | pending.left_households
        numbers = {k for k in kks if k} | pending.left_kks
        stored: list[tuple[int, Family, str, str | None]] = []
        for record, source, household, kk, name_key, before in await store.family_keys(
                conn, households=households, kks=numbers, every=full):
            family = family_of(source, household, kk)
            if family in touched:
                stored.append((record, family, name_key, before))
        found = relatives_of([*families, *(family for _, family, _, _ in stored)],
                             [*name_keys, *(name_key for _, _, name_key, _ in stored)])
        mine, theirs = found[:len(families)], found[len(families):]
        await bulk.bulk_update(conn, MatchKey.__table__, "record_id", [
            {"record_id": record, "relatives": now}
            for (record, _, _, before), now in zip(stored, theirs, strict=True)
            if now != before])
        return mine

    async def _frequencies(self, conn: AsyncConnection, pending: Pending,
                           existing: list[str], *, full: bool) -> dict[str, float]:
        """How common each name is in the whole registry (term frequency); `existing`
        are the names of the linked records in play."""
        names = Counter(pending.name_counts)
        if full:
            names.update(existing)
            total = max(1, sum(names.values()))
            return {name: count / total for name, count in names.items()}
        wanted = set(names) | set(existing)
        # The pending records' keys are not stored yet: theirs count on top.
        counts, total = await store.name_frequencies(conn, wanted)
        total = max(1, total + len(pending.ids))
        return {name: max(1, counts.get(name, 0) + names[name]) / total for name in wanted}

    async def _model(self, conn: AsyncConnection, engine: LinkageEngine, table: pa.Table,
                     others: pa.Table | None, *, retrain: bool, full: bool,
                     say: Progress) -> dict[str, Any]:
        """The latest model, or a new one when there is none, when asked, when the
        registry has outgrown the one it was trained on, or when the comparisons or
        blocking rules have changed since (a new release of the hub)."""
        latest = (await conn.execute(
            select(MatchModel.settings, MatchModel.trained_on)
            .order_by(MatchModel.version.desc()).limit(1))).first()
        # The pending records' keys are written with their links, after this.
        registry = (await conn.execute(select(func.count()).select_from(MatchKey))
                    ).scalar_one() + table.num_rows
        if not retrain and latest is not None and \
                registry < latest.trained_on * self.settings.matching.retrain_growth and \
                design(latest.settings) == current_design(engine.columns):
            return latest.settings
        training = table if others is None else pa.concat_tables([table, others])
        say(f"training the match model on {training.num_rows} records")
        model = engine.train(training)
        await conn.execute(insert(MatchModel).values(settings=model, trained_on=registry))
        return model

    # -- writing ---------------------------------------------------------------------

    async def write(self, conn: AsyncConnection, pending: Pending, outcome: MatchOutcome, *,
                    full: bool) -> set[int]:
        """Persons for new clusters, the links, the match keys' persons and the review
        tasks; returns every person touched (gaining or losing records)."""
        clock = Clock()
        assignment = outcome.assignment
        cluster_person = await self._new_persons(conn, assignment.new_cluster, pending,
                                                 reuse=full)
        person_of = dict(assignment.person)
        person_of |= {r: cluster_person[c] for r, c in assignment.new_cluster.items()}
        clock.lap("persons")
        await self._write_records_and_keys(conn, pending, outcome, person_of, full=full)
        clock.lap("records")
        if full:
            await store.recount_names(conn)
        await self.statistics.wrote(conn, "match_key", len(pending.ids))
        clock.lap("keys")
        # Fresh statistics when a good share of the links changed (person_id was null;
        # now it is not). For the few records of a usual run autovacuum's are close
        # enough, and ANALYZE was 10% of an incremental run at a million persons.
        if full or len(pending.ids) * 10 >= await estimated_rows(conn, "source_record"):
            await analyze(conn, "source_record", "person")
        clock.lap("analyze")
        await self._write_reviews(conn, outcome, person_of)
        clock.lap("reviews")
        outcome.counts |= clock.seconds("link")
        return set(person_of.values()) | set(pending.previous.values())

    async def _write_records_and_keys(self, conn: AsyncConnection, pending: Pending,
                                      outcome: MatchOutcome, person_of: dict[int, int], *,
                                      full: bool) -> None:
        """Each record's link and its match key (with the person it now belongs to),
        a batch at a time: the next batch's rows are built while the database writes
        this one's (`overlapped`). A full run has deleted every key but the pinned
        records': it loads anew, without the indexes until the end (`bulk_load`)."""
        assert pending.table is not None
        assignment = outcome.assignment
        parts = pending.table.to_batches(BATCH)
        offsets = [0]
        for part in parts:
            offsets.append(offsets[-1] + part.num_rows)

        def build(index: int) -> tuple[dict[str, list[Any]], list[tuple[Any, ...]]]:
            start, part = offsets[index], parts[index]
            ids = part.column("unique_id").to_pylist()
            if ids != pending.ids[start:start + len(ids)]:
                raise AssertionError("linkage input out of step with the pending records")
            links = {"id": ids, "person_id": [person_of[r] for r in ids],
                     "link_method": [assignment.method[r] for r in ids],
                     "link_score": [round(assignment.score[r], 6) for r in ids],
                     "matched_hash": pending.hashes[start:start + len(ids)]}
            columns = [part.column(name).to_pylist() for name in store.KEY_COLUMNS]
            for position in (store.KEY_COLUMNS.index("name_norm"),
                             store.KEY_COLUMNS.index("name_key")):
                columns[position] = [value[:120] for value in columns[position]]
            keys = list(zip(ids, links["person_id"], pending.sources[start:start + len(ids)],
                            pending.household_keys[start:start + len(ids)], *columns,
                            strict=True))
            return links, keys

        async def write(index: int, built: tuple[dict[str, list[Any]],
                                                 list[tuple[Any, ...]]]) -> None:
            links, keys = built
            await bulk.update_columns(conn, SourceRecord.__table__, "id", links)
            await bulk.insert_tuples(conn, MatchKey.__table__, KEY_ROW, keys)
            if not full:
                name_norm = KEY_ROW.index("name_norm")
                await store.count_names(conn, Counter(key[name_norm] for key in keys))

        async with (bulk.bulk_load(conn, MatchKey.__table__) if full else nullcontext()):
            await overlapped(range(len(parts)), build, write)
        pending.table = None

    async def _new_persons(self, conn: AsyncConnection, clusters: dict[int, int],
                           pending: Pending, *, reuse: bool) -> dict[int, int]:
        """A person for each new cluster. A cluster gets back the person most of its
        records had when that person has no other records left (a full rebuild; a
        person whose only record changed), so ids stay stable."""
        members: dict[int, list[int]] = {}
        for record, c in clusters.items():
            members.setdefault(c, []).append(record)
        out: dict[int, int] = {}
        if pending.previous:
            kept = set() if reuse else await self._persons_keeping_records(
                conn, {pending.previous[r] for r in clusters if r in pending.previous})
            claimed: set[int] = set()
            for c, records in sorted(members.items(), key=lambda kv: -len(kv[1])):
                votes = Counter(pending.previous[r] for r in records if r in pending.previous)
                for person, _ in votes.most_common():
                    if person not in claimed and person not in kept:
                        out[c] = person
                        claimed.add(person)
                        break
        fresh = [c for c in members if c not in out]
        if not fresh:
            return out
        if conn.dialect.name == "postgresql":
            # Ids only: the golden phase of this transaction writes each new person
            # once, whole, and the links to them are checked at commit (migration 0011).
            await conn.exec_driver_sql(f"SET CONSTRAINTS {PERSON_LINK} DEFERRED")
            provinces = (_cluster_provinces(pending, {c: members[c] for c in fresh})
                         if self.settings.database.by_province else None)
            ids = await bulk.next_ids(conn, Person.__table__, len(fresh),
                                      [provinces[c] for c in fresh] if provinces else None)
        else:
            # No sequence to draw from: placeholders the golden phase fills in.
            ids = []
            for batch in bulk.chunks(fresh, 20_000):
                ids += await bulk.insert_with_ids(conn, Person.__table__, [
                    {"name": "?", "name_normalized": ""} for _ in batch])
        return out | dict(zip(fresh, ids, strict=True))

    @staticmethod
    async def _persons_keeping_records(conn: AsyncConnection, persons: set[int]) -> set[int]:
        """Of `persons`, those with a record this run does not re-match."""
        kept: set[int] = set()
        for _, among_persons in store.among(conn, SourceRecord.person_id, sorted(persons)):
            result = await conn.execute(select(SourceRecord.person_id).where(
                among_persons,
                SourceRecord.matched_hash == SourceRecord.payload_hash).distinct())
            kept |= set(result.scalars())
        return kept

    async def _write_reviews(self, conn: AsyncConnection, outcome: MatchOutcome,
                             person_of: dict[int, int]) -> None:
        records = sorted({p.record for p in outcome.reviews} | set(person_of))
        for _, among_records in store.among(conn, ReviewTask.record_id, records):
            await conn.execute(update(ReviewTask).where(
                among_records, ReviewTask.status == "OPEN").values(status="OBSOLETE"))
        others = {p.other for p in outcome.reviews if p.other not in person_of}
        known: dict[int, Any] = {}
        for _, among_records in store.among(
                conn, MatchKey.record_id, sorted(others | {p.record for p in outcome.reviews})):
            result = await conn.execute(
                select(MatchKey.record_id, MatchKey.person_id, MatchKey.village_code,
                       MatchKey.district_code).where(among_records))
            known |= {row.record_id: row for row in result}
        rows: dict[tuple[int, int], dict[str, Any]] = {}
        for pair in outcome.reviews:
            candidate = person_of.get(pair.other) or (
                known[pair.other].person_id if pair.other in known else None)
            if candidate is None or candidate == person_of.get(pair.record):
                continue
            key = (pair.record, candidate)
            if key in rows and rows[key]["probability"] >= pair.probability:
                continue
            mine = known.get(pair.record)
            rows[key] = {
                "record_id": pair.record, "candidate_person_id": candidate,
                "candidate_record_id": pair.other, "probability": round(pair.probability, 6),
                "evidence": pair.evidence, "status": "OPEN",
                "region_code": (mine.village_code or mine.district_code) if mine else None,
            }
        if not rows:
            return
        decided: set[tuple[int, int]] = set()
        for _, among_records in store.among(conn, ReviewTask.record_id,
                                            sorted({r for r, _ in rows})):
            result = await conn.execute(
                select(ReviewTask.record_id, ReviewTask.candidate_person_id)
                .where(among_records, ReviewTask.status.in_(("LINKED", "REJECTED"))))
            decided |= {(record, person) for record, person in result}
            # Undecided tasks of these records make way for this run's.
            await conn.execute(delete(ReviewTask).where(
                among_records, ReviewTask.status.in_(("OPEN", "OBSOLETE"))))
        # A steward's answer to the same pair stands: no new task for it.
        fresh = [row for key, row in rows.items() if key not in decided]
        if fresh:
            await bulk.bulk_insert(conn, ReviewTask.__table__, fresh)


def _cluster_provinces(pending: Pending, clusters: dict[int, list[int]]
                       ) -> dict[int, str | None]:
    """Each new cluster's province, for a registry partitioned by province: the one
    most of its records' NIKs were issued in, else the one most of them live in."""
    assert pending.table is not None, "the linkage input is kept until the links are written"
    position = {record: i for i, record in enumerate(pending.ids)}
    columns = {name: pending.table.column(name).to_pylist()
               for name in ("nik", "village_code", "district_code")}

    def values(name: str, records: list[int]) -> list[str | None]:
        return [columns[name][position[r]] for r in records]

    return {c: majority_province(values("nik", records))
            or majority_province(values("village_code", records) + values("district_code", records))
            for c, records in clusters.items()}


def _linkage_input(batches: list[pa.RecordBatch], schema: pa.Schema,
                   frequencies: dict[str, float], relatives: list[str | None]) -> pa.Table:
    """The pending records as linkage input, with what is known only of all of them
    together: their names' frequencies and their relatives."""
    table = pa.Table.from_batches(batches, schema=schema)
    names = table.column("name_norm").to_pylist()
    tf = pa.array([frequencies.get(n, 0.0) for n in names], pa.float64())
    table = table.set_column(table.schema.get_field_index("tf_name_norm"), "tf_name_norm", tf)
    return table.set_column(table.schema.get_field_index("relatives"), "relatives",
                            pa.array(relatives, pa.string()))


def _existing_table(keys: store.Keys, schema: pa.Schema,
                    frequencies: dict[str, float]) -> pa.Table | None:
    """Stored match keys as linkage input, column by column: at a million persons an
    incremental run reads hundreds of thousands of them."""
    if not keys["record_id"]:
        return None
    data: dict[str, list[Any]] = {"unique_id": keys["record_id"]}
    for name in store.KEY_COLUMNS:
        data[name] = keys[name]
    data["first_name"] = [(name.split(maxsplit=1) or [None])[0] for name in data["name_norm"]]
    data["regency_code"] = [".".join(district.split(".")[:2]) if district else None
                            for district in data["district_code"]]
    data["tf_name_norm"] = [frequencies.get(n, 0.0) for n in data["name_norm"]]
    return pa.Table.from_pydict({name: data[name] for name in schema.names}, schema=schema)
