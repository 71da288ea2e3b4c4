"""GraphQL for reconciliation: findings, review tasks, sync history and connector
state, and the data steward's mutations."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import Any

import strawberry
from sqlalchemy import func, select
from sqlalchemy.engine import RowMapping
from strawberry.scalars import JSON

from hub.access.evidence import persons_named, visible_evidence
from hub.access.roles import RegionScope
from hub.db.models import Finding as FindingRow
from hub.db.models import Person as PersonRow
from hub.db.models import ReviewTask as ReviewTaskRow
from hub.db.models import SourceRecord as SourceRecordRow
from hub.db.models import SyncRequest as SyncRequestRow
from hub.db.models import SyncRun as SyncRunRow
from hub.domain.dates import as_utc
from hub.domain.regions import RegionLevel, level_of
from hub.errors import BadUserInput, ForbiddenError, HubError, NotFound, NotFoundError, clip
from hub.schema.loaders import fetch_all
from hub.schema.pagination import DEFAULT_PAGE, decode_id_cursor, encode_cursor, page_size
from hub.schema.types import HubInfo, PageInfo, Person, load_one
from hub.sync.findings import KINDS
from hub.sync.steward import Steward, StewardError

WHOLE_AREAS = frozenset({RegionLevel.PROVINCE, RegionLevel.REGENCY})

FindingKind = strawberry.enum(Enum("FindingKind", {k: k for k in KINDS}),
                              description="What a finding is about.")


@strawberry.enum(description="OPEN until fixed; AUTO_CLOSED when a later run no longer "
                 "sees it; RESOLVED by a steward with a reason.")
class FindingStatus(Enum):
    OPEN = "OPEN"
    AUTO_CLOSED = "AUTO_CLOSED"
    RESOLVED = "RESOLVED"


@strawberry.enum
class ReviewDecision(Enum):
    LINK = "LINK"
    NOT_LINK = "NOT_LINK"


def _steward_error(error: StewardError | NotFound) -> HubError:
    return NotFoundError(str(error)) if isinstance(error, NotFound) else BadUserInput(str(error))


def _id(value: Any, argument: str) -> int:
    """A database id: a whole number the id columns can hold (64-bit), else a clear
    error rather than a driver's overflow."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if not 0 < number < 2**63:
        raise BadUserInput(f"{argument} must be a positive numeric id, got "
                           f"{clip(str(value))!r}", argument=argument)
    return number


def _region_filter(column: Any, code: str) -> Any:
    return (column == code) | column.like(f"{code}.%")


def _visible(info: HubInfo, statement: Any, region_column: Any,
             owner_column: Any | None = None) -> Any:
    """Only the rows the client's regions (and, for an agency, ownership) allow, so
    pages and counts are right; the guard checks each object again on the way out."""
    principal = info.context.principal
    condition = principal.scope.condition(region_column)
    if condition is not None:
        statement = statement.where(condition)
    if owner_column is not None and principal.agency is not None:
        statement = statement.where(owner_column == principal.agency)
    return statement


@strawberry.type(description="Where agencies disagree, or someone eligible is not covered.")
class Finding:
    id: strawberry.ID
    kind: str
    status: str
    owner_agency: str | None = strawberry.field(description="The agency expected to act.")
    region_code: str | None
    created_at: datetime
    updated_at: datetime
    resolved_reason: str | None
    resolved_by: str | None
    subject_id: strawberry.Private[int]
    raw_evidence: strawberry.Private[dict[str, Any] | None]

    @classmethod
    def from_row(cls, row: RowMapping) -> Finding:
        return cls(id=strawberry.ID(str(row["id"])), kind=row["kind"], status=row["status"],
                   owner_agency=row["owner_agency"], region_code=row["region_code"],
                   raw_evidence=row["evidence"], created_at=row["created_at"],
                   updated_at=row["updated_at"], resolved_reason=row["resolved_reason"],
                   resolved_by=row["resolved_by"], subject_id=row["subject_id"])

    @strawberry.field(description="The records that disagree, as they are, less what the "
                      "client's role may not read (another agency's records, a desil an "
                      "agency may not see) and persons outside its regions.")
    async def evidence(self, info: HubInfo) -> JSON:
        principal = info.context.principal
        named = persons_named(self.raw_evidence)
        rows = await info.context.loaders.person.load_many(named) if named else []
        in_scope = {row["id"] for row in rows
                    if row is not None and principal.scope.allows(row["region_code"])}
        return visible_evidence(self.raw_evidence, principal, in_scope)

    @strawberry.field(description="The person the finding is about (null once removed).")
    async def person(self, info: HubInfo) -> Person | None:
        return await load_one(info.context.loaders.person, self.subject_id, Person.from_row)


@strawberry.type
class FindingEdge:
    cursor: str
    node: Finding


@strawberry.type
class FindingConnection:
    edges: list[FindingEdge]
    page_info: PageInfo


@strawberry.type(description="Open findings of one kind in one region.")
class FindingCount:
    region_code: str | None
    kind: str
    open: int


@strawberry.type(description="An agency record as staged, and how it was linked.")
class SourceRecord:
    id: strawberry.ID
    source: str
    source_key: str
    link_method: str | None = strawberry.field(
        description="NIK, PROBABILISTIC, NEW or MANUAL.")
    link_score: float | None
    locked: bool = strawberry.field(description="A steward decided this link.")
    values: JSON = strawberry.field(description="The record in the hub's field names.")

    @classmethod
    def from_row(cls, row: RowMapping) -> SourceRecord:
        return cls(id=strawberry.ID(str(row["id"])), source=row["source"],
                   source_key=row["source_key"], link_method=row["link_method"],
                   link_score=row["link_score"], locked=bool(row["link_locked"]),
                   values=row["normalized"])


@strawberry.type(description="A pair the model was unsure of, for a data steward.")
class ReviewTask:
    id: strawberry.ID
    probability: float
    evidence: JSON = strawberry.field(
        description="Per field: the comparison level and its weight (log2 Bayes factor).")
    status: str
    region_code: str | None
    record_id: strawberry.Private[int]
    candidate_person_id: strawberry.Private[int]
    # Where both persons of the pair live: the guard shows a task only when both are in
    # the client's regions (a task's own region is only its record's).
    record_person_id: strawberry.Private[int | None]
    record_region: strawberry.Private[str | None]
    candidate_region: strawberry.Private[str | None]

    @classmethod
    def from_row(cls, row: RowMapping) -> ReviewTask:
        return cls(id=strawberry.ID(str(row["id"])), probability=row["probability"],
                   evidence=row["evidence"], status=row["status"],
                   region_code=row["region_code"], record_id=row["record_id"],
                   candidate_person_id=row["candidate_person_id"],
                   record_person_id=row["record_person_id"],
                   record_region=row["record_region"],
                   candidate_region=row["candidate_region"])

    @strawberry.field
    async def record(self, info: HubInfo) -> SourceRecord | None:
        rows = await fetch_all(info.context.engine, select(SourceRecordRow.__table__).where(
            SourceRecordRow.id == self.record_id))
        return SourceRecord.from_row(rows[0]) if rows else None

    @strawberry.field(description="The person the record may belong to.")
    async def candidate(self, info: HubInfo) -> Person | None:
        return await load_one(info.context.loaders.person, self.candidate_person_id,
                              Person.from_row)


@strawberry.type
class SyncCounts:
    fetched: int
    new: int
    changed: int
    unchanged: int
    quarantined: int


@strawberry.type(description="One run of a connector stream, or of reconciliation.")
class SyncRun:
    id: strawberry.ID
    connector: str
    stream: str | None
    status: str
    started_at: datetime
    finished_at: datetime | None
    cursor_before: str | None
    cursor_after: str | None
    error: str | None
    details: JSON = strawberry.field(description="Every count the run kept.")

    @strawberry.field
    def counts(self) -> SyncCounts:
        c = self.details or {}
        return SyncCounts(**{k: int(c.get(k, 0)) for k in
                             ("fetched", "new", "changed", "unchanged", "quarantined")})

    @classmethod
    def from_row(cls, row: RowMapping) -> SyncRun:
        return cls(id=strawberry.ID(str(row["id"])), connector=row["connector"],
                   stream=row["stream"], status=row["status"], started_at=row["started_at"],
                   finished_at=row["finished_at"], cursor_before=row["cursor_before"],
                   cursor_after=row["cursor_after"], error=row["error"],
                   details=row["counts"] or {})


@strawberry.type(description="A configured agency connector and how its syncs go.")
class ConnectorState:
    name: str
    enabled: bool
    schedule: str | None
    last_run: SyncRun | None
    last_success_at: datetime | None
    lag_seconds: float | None = strawberry.field(
        description="Seconds since the last successful sync finished.")
    circuit_state: str = strawberry.field(
        description="OPEN when the last run stopped because the agency kept failing "
        "(the circuit breaker opened), else CLOSED.")


@strawberry.type(description="A sync asked for through the API, run by the scheduler.")
class SyncRequest:
    id: strawberry.ID
    connector: str | None
    full: bool
    status: str
    requested_at: datetime
    error: str | None


@strawberry.type
class ReconciliationQuery:
    @strawberry.field(description="Findings, newest first, filtered by kind, region "
                      "(any level) and status.")
    async def findings(self, info: HubInfo, kind: FindingKind | None = None,  # type: ignore[valid-type]
                       region: str | None = None, status: FindingStatus | None = None,
                       first: int | None = None, after: str | None = None
                       ) -> FindingConnection:
        limit = page_size(first, DEFAULT_PAGE, info.context.settings.server.max_page_size)
        statement = _visible(info, select(FindingRow.__table__), FindingRow.region_code,
                             FindingRow.owner_agency)
        if kind is not None:
            statement = statement.where(FindingRow.kind == kind.value)
        if region:
            statement = statement.where(_region_filter(FindingRow.region_code, region))
        if status is not None:
            statement = statement.where(FindingRow.status == status.value)
        if after:
            last = decode_id_cursor("finding", after)
            statement = statement.where(FindingRow.id < last)
        rows = await fetch_all(info.context.engine,
                               statement.order_by(FindingRow.id.desc()).limit(limit + 1))
        edges = [FindingEdge(cursor=encode_cursor("finding", [r["id"]]),
                             node=Finding.from_row(r)) for r in rows[:limit]]
        return FindingConnection(edges=edges, page_info=PageInfo(
            has_next_page=len(rows) > limit, end_cursor=edges[-1].cursor if edges else None))

    @strawberry.field(description="Open findings per village and kind, under a region.")
    async def finding_counts(self, info: HubInfo, region: str | None = None
                             ) -> list[FindingCount]:
        statement = (select(FindingRow.region_code, FindingRow.kind, func.count())
                     .where(FindingRow.status == "OPEN")
                     .group_by(FindingRow.region_code, FindingRow.kind)
                     .order_by(FindingRow.region_code, FindingRow.kind))
        if region:
            statement = statement.where(_region_filter(FindingRow.region_code, region))
        statement = _visible(info, statement, FindingRow.region_code, FindingRow.owner_agency)
        async with info.context.engine.connect() as conn:
            rows = (await conn.execute(statement)).all()
        return [FindingCount(region_code=r, kind=k, open=n) for r, k, n in rows]

    @strawberry.field(description="Review tasks for data stewards, oldest first: only "
                      "those whose record's person and candidate both lie in the client's "
                      "regions.")
    async def review_tasks(self, info: HubInfo, status: str = "OPEN",
                           region: str | None = None, first: int | None = None,
                           after: str | None = None) -> list[ReviewTask]:
        limit = page_size(first, DEFAULT_PAGE, info.context.settings.server.max_page_size)
        statement = _review_tasks(info.context.principal.scope).where(
            ReviewTaskRow.status == status)
        if region:
            statement = statement.where(_region_filter(ReviewTaskRow.region_code, region))
        if after:
            last = decode_id_cursor("review", after)
            statement = statement.where(ReviewTaskRow.id > last)
        rows = await fetch_all(info.context.engine,
                               statement.order_by(ReviewTaskRow.id).limit(limit))
        return [ReviewTask.from_row(r) for r in rows]

    @strawberry.field(description="Sync and reconciliation runs, newest first.")
    async def sync_runs(self, info: HubInfo, connector: str | None = None,
                        first: int | None = None) -> list[SyncRun]:
        limit = page_size(first, DEFAULT_PAGE, info.context.settings.server.max_page_size)
        statement = select(SyncRunRow.__table__)
        if connector:
            statement = statement.where(SyncRunRow.connector == connector)
        rows = await fetch_all(info.context.engine,
                               statement.order_by(SyncRunRow.id.desc()).limit(limit))
        return [SyncRun.from_row(r) for r in rows]

    @strawberry.field(description="Every configured connector with its last run and lag.")
    async def connectors(self, info: HubInfo) -> list[ConnectorState]:
        settings = info.context.settings
        out = []
        now = datetime.now(UTC)
        for name, conf in settings.connectors.items():
            last = await fetch_all(info.context.engine, select(SyncRunRow.__table__).where(
                SyncRunRow.connector == name).order_by(SyncRunRow.id.desc()).limit(1))
            success = await fetch_all(info.context.engine, select(SyncRunRow.finished_at).where(
                SyncRunRow.connector == name, SyncRunRow.status == "SUCCEEDED")
                .order_by(SyncRunRow.id.desc()).limit(1))
            finished = as_utc(success[0]["finished_at"]) if success else None
            error = last[0]["error"] if last else None
            out.append(ConnectorState(
                name=name, enabled=conf.enabled,
                schedule=settings.schedule.connectors.get(name),
                last_run=SyncRun.from_row(last[0]) if last else None,
                last_success_at=finished,
                lag_seconds=(now - finished).total_seconds() if finished else None,
                circuit_state="OPEN" if error and error.startswith("CircuitOpenError")
                else "CLOSED",
            ))
        return out


@strawberry.type
class ReconciliationMutation:
    @strawberry.mutation(description="Queue a sync of one connector (or all, with "
                         "reconciliation after); the scheduler leader runs it.")
    async def trigger_sync(self, info: HubInfo, connector: str | None = None,
                           full: bool = False) -> SyncRequest:
        principal = info.context.principal
        if not principal.scope.everywhere and not any(
                level_of(code) in WHOLE_AREAS for code in principal.regions):
            raise ForbiddenError("a sync reads every region the agencies hold: only a client "
                                 "whose regions include a whole regency or province may "
                                 "trigger one")
        if connector is not None and connector not in info.context.settings.connectors:
            raise BadUserInput(f"no connector named {connector!r}; configured: "
                               f"{', '.join(info.context.settings.connectors)}",
                               argument="connector")
        async with info.context.engine.begin() as conn:
            row = (await conn.execute(
                SyncRequestRow.__table__.insert().values(connector=connector, full=full,
                                                         status="QUEUED")
                .returning(*SyncRequestRow.__table__.c))).mappings().one()
        return SyncRequest(id=strawberry.ID(str(row["id"])), connector=row["connector"],
                           full=row["full"], status=row["status"],
                           requested_at=row["requested_at"], error=row["error"])

    @strawberry.mutation(description="Close a finding with the reason (it stays closed "
                         "unless its evidence changes).")
    async def resolve_finding(self, info: HubInfo, id: strawberry.ID, reason: str) -> Finding:
        await _require_finding(info, _id(id, "id"))
        try:
            await _steward(info).resolve_finding(_id(id, "id"), reason, _who(info))
        except (StewardError, NotFound) as error:
            raise _steward_error(error) from None
        rows = await fetch_all(info.context.engine, select(FindingRow.__table__).where(
            FindingRow.id == _id(id, "id")))
        return Finding.from_row(rows[0])

    @strawberry.mutation(description="Settle a review task: LINK puts the record into the "
                         "candidate person, NOT_LINK keeps them apart for good.")
    async def resolve_review_task(self, info: HubInfo, id: strawberry.ID,
                                  decision: ReviewDecision, reason: str | None = None) -> str:
        task = _id(id, "id")
        return await _decide(info, lambda s: s.resolve_review(
            task, decision is ReviewDecision.LINK, _who(info), reason))

    @strawberry.mutation(description="Put a source record into a person, pinned.")
    async def link_record(self, info: HubInfo, record_id: strawberry.ID,
                          person_id: strawberry.ID, reason: str | None = None) -> Person:
        record, person = _id(record_id, "recordId"), _id(person_id, "personId")
        return await _person_after(info, lambda s: s.link(record, person, _who(info), reason))

    @strawberry.mutation(description="Take a record out of its person into a new one.")
    async def unlink_record(self, info: HubInfo, record_id: strawberry.ID,
                            reason: str | None = None) -> Person:
        record = _id(record_id, "recordId")
        return await _person_after(info, lambda s: s.unlink(record, _who(info), reason))

    @strawberry.mutation(description="Merge person `merge` into person `keep`.")
    async def merge_persons(self, info: HubInfo, keep: strawberry.ID, merge: strawberry.ID,
                            reason: str | None = None) -> Person:
        kept, merged = _id(keep, "keep"), _id(merge, "merge")
        return await _person_after(info, lambda s: s.merge(kept, merged, _who(info), reason))

    @strawberry.mutation(description="Move some records of a person into a new person.")
    async def split_person(self, info: HubInfo, person_id: strawberry.ID,
                           record_ids: list[strawberry.ID], reason: str | None = None) -> Person:
        person = _id(person_id, "personId")
        records = [_id(r, "recordIds") for r in record_ids]
        return await _person_after(info, lambda s: s.split(person, records, _who(info), reason))


def _review_tasks(scope: RegionScope) -> Any:
    """Review tasks with the regions of both persons of the pair, filtered to those the
    scope holds whole."""
    task = ReviewTaskRow.__table__
    record = SourceRecordRow.__table__
    owner = PersonRow.__table__.alias("record_person")
    candidate = PersonRow.__table__.alias("candidate_person")
    statement = (
        select(task, record.c.person_id.label("record_person_id"),
               owner.c.region_code.label("record_region"),
               candidate.c.region_code.label("candidate_region"))
        .select_from(task.join(record, record.c.id == task.c.record_id)
                     .outerjoin(owner, owner.c.id == record.c.person_id)
                     .outerjoin(candidate, candidate.c.id == task.c.candidate_person_id)))
    for column in (owner.c.region_code, candidate.c.region_code):
        condition = scope.condition(column)
        if condition is not None:
            statement = statement.where(condition)
    return statement


def _steward(info: HubInfo) -> Steward:
    """A steward bound to the client's regions: it checks every person a decision
    touches inside the decision's transaction."""
    return Steward(info.context.engine, info.context.settings,
                   in_scope=info.context.principal.scope.allows)


async def _decide(info: HubInfo, action: Any) -> Any:
    steward = _steward(info)
    try:
        return await action(steward)
    except (StewardError, NotFound) as error:
        raise _steward_error(error) from None
    finally:
        for person in steward.touched:
            info.context.audit.note("person", person, None)


def _who(info: HubInfo) -> str:
    """The steward a decision is recorded under: the authenticated client."""
    return info.context.principal.name[:80]


async def _require_finding(info: HubInfo, finding: int) -> None:
    statement = _visible(info, select(FindingRow.subject_id).where(FindingRow.id == finding),
                         FindingRow.region_code, FindingRow.owner_agency)
    rows = await fetch_all(info.context.engine, statement)
    if not rows:
        raise NotFoundError(f"no finding {finding}")
    info.context.audit.note("person", rows[0]["subject_id"], None)


async def _person_after(info: HubInfo, action: Any) -> Person:
    person = await _decide(info, action)
    rows = await fetch_all(info.context.engine, select(PersonRow.__table__).where(
        PersonRow.id == person))
    return Person.from_row(rows[0])
