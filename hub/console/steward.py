"""The data steward's desk: the review queue (two records side by side with the
evidence for and against), findings per village and kind, a person's lineage, merging
and splitting. Every decision is the steward's GraphQL mutation, scoped like the API."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hub.access.officers import DeskKind, SignedIn
from hub.console.web import Console, Refused, form_text, page, redirect, with_problem

STEWARD = (DeskKind.STEWARD,)
FINDING_KINDS = ("ELIGIBLE_NOT_COVERED", "DECEASED_STILL_ENROLLED", "INVALID_NIK",
                 "NIK_NOT_IN_CIVIL_REGISTRY", "IDENTITY_MISMATCH", "DUPLICATE_PERSON",
                 "HOUSEHOLD_CONFLICT")
# The rows a steward compares, as (label key, the record's field, the candidate's path).
SIDE_BY_SIDE = (("name", "name", ("name",)), ("nik", "nik", ("nik",)),
                ("birth", "birth_date", ("birthDate",)), ("sex", "sex", ("sex",)),
                ("kk", "kk", ("household", "kk")),
                ("village", "village_code", ("household", "villageCode")),
                ("address", "address", ("household", "address")))

REVIEW = """
query ConsoleReview($region: String) {
  reviewTasks(status: "OPEN", region: $region, first: 20) {
    id probability evidence regionCode
    record { id source sourceKey values }
    candidate { id nik name sex birthDate household { kk villageCode address } }
  }
}
"""
RESOLVE_TASK = """
mutation ConsoleResolveTask($id: ID!, $decision: ReviewDecision!, $reason: String) {
  resolveReviewTask(id: $id, decision: $decision, reason: $reason)
}
"""
FINDINGS = """
query ConsoleFindings($region: String, $kind: FindingKind, $after: String) {
  findingCounts(region: $region) { regionCode kind open }
  findings(kind: $kind, region: $region, status: OPEN, first: 50, after: $after) {
    edges { node { id kind ownerAgency regionCode createdAt evidence
                   person { nik name household { kk } } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
RESOLVE_FINDING = """
mutation ConsoleResolveFinding($id: ID!, $reason: String!) {
  resolveFinding(id: $id, reason: $reason) { id status }
}
"""
PERSON = """
query ConsolePersonLineage($nik: String!) {
  person(nik: $nik) {
    id nik name sex birthDate birthPlace alive deathDate
    household { kk villageCode }
    enrollments { program status source }
    lineage { field source sourceKey recordId seenAt }
  }
}
"""
MERGE = """
mutation ConsoleMerge($keep: ID!, $merge: ID!, $reason: String) {
  mergePersons(keep: $keep, merge: $merge, reason: $reason) { nik }
}
"""
SPLIT = """
mutation ConsoleSplit($person: ID!, $records: [ID!]!, $reason: String) {
  splitPerson(personId: $person, recordIds: $records, reason: $reason) { nik }
}
"""


def _path(value: Any, keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def comparison_rows(task: dict[str, Any]) -> list[dict[str, Any]]:
    """The record and the candidate person field by field, and whether they agree."""
    values = (task.get("record") or {}).get("values") or {}
    candidate = task.get("candidate") or {}
    rows = []
    for label, field, path in SIDE_BY_SIDE:
        left, right = values.get(field), _path(candidate, path)
        if left is None and right is None:
            continue
        same = left is not None and right is not None and \
            str(left).strip().lower() == str(right).strip().lower()
        rows.append({"label": label, "record": left, "candidate": right, "same": same})
    return rows


def routes(console: Console) -> list[BaseRoute]:
    @page(console, STEWARD)
    async def review(request: Request, signed: SignedIn) -> Response:
        region = request.query_params.get("region", "").strip()[:13] or None
        found = await console.run(signed, REVIEW, {"region": region})
        tasks = found.data.get("reviewTasks") or []
        for task in tasks:
            task["rows"] = comparison_rows(task)
            evidence = task.get("evidence") or {}
            task["weights"] = sorted(
                ({"field": name, **(value if isinstance(value, dict) else {})}
                 for name, value in evidence.items()),
                key=lambda item: -abs(item.get("weight") or 0))
        return console.render(request, "review.html", signed, tasks=tasks, region=region,
                              errors=found.errors, problem=request.query_params.get("problem"))

    @page(console, STEWARD)
    async def decide(request: Request, signed: SignedIn) -> Response:
        decision = form_text(request, "decision", 10)
        if decision not in ("LINK", "NOT_LINK"):
            raise Refused(400, "decision")
        done = await console.run(signed, RESOLVE_TASK, {
            "id": request.path_params["task"][:20], "decision": decision,
            "reason": form_text(request, "reason") or None})
        return redirect(with_problem("/review", done.errors[0]) if done.errors else "/review")

    @page(console, STEWARD)
    async def findings(request: Request, signed: SignedIn) -> Response:
        region = request.query_params.get("region", "").strip()[:13] or None
        kind = request.query_params.get("kind") or None
        if kind not in FINDING_KINDS:
            kind = None
        after = request.query_params.get("after") or None
        found = await console.run(signed, FINDINGS, {"region": region, "kind": kind,
                                                     "after": after})
        counts: dict[str, dict[str, int]] = {}
        for row in found.data.get("findingCounts") or ():
            counts.setdefault(row["regionCode"] or "–", {})[row["kind"]] = row["open"]
        listed = found.data.get("findings") or {}
        return console.render(
            request, "findings.html", signed, region=region, kind=kind, kinds=FINDING_KINDS,
            counts=sorted(counts.items()), errors=found.errors,
            findings=[edge["node"] for edge in listed.get("edges", ())],
            next_page=(listed.get("pageInfo") or {}).get("endCursor")
            if (listed.get("pageInfo") or {}).get("hasNextPage") else None,
            problem=request.query_params.get("problem"))

    @page(console, STEWARD)
    async def resolve_finding(request: Request, signed: SignedIn) -> Response:
        back = form_text(request, "next", 300)
        back = back[len("/console"):] if back.startswith("/console/findings") else "/findings"
        reason = form_text(request, "reason")
        if not reason:
            return redirect(with_problem(back, "reason"))
        done = await console.run(signed, RESOLVE_FINDING, {
            "id": request.path_params["finding"][:20], "reason": reason})
        return redirect(with_problem(back, done.errors[0]) if done.errors else back)

    @page(console, STEWARD)
    async def person(request: Request, signed: SignedIn) -> Response:
        found = await console.run(signed, PERSON, {"nik": request.path_params["nik"][:16]})
        if not found.data.get("person"):
            if found.errors and not found.data:
                raise Refused(400, found.errors[0])
            raise Refused(404, "")
        return console.render(request, "person.html", signed, person=found.data["person"],
                              errors=found.errors, problem=request.query_params.get("problem"))

    @page(console, STEWARD)
    async def merge(request: Request, signed: SignedIn) -> Response:
        nik = request.path_params["nik"][:16]
        other_nik = form_text(request, "other_nik", 16)
        here = await console.run(signed, PERSON, {"nik": nik})
        other = await console.run(signed, PERSON, {"nik": other_nik})
        if not here.data.get("person") or not other.data.get("person"):
            return redirect(with_problem(f"/person/{nik}", "other_nik"))
        done = await console.run(signed, MERGE, {
            "keep": here.data["person"]["id"], "merge": other.data["person"]["id"],
            "reason": form_text(request, "reason") or None})
        return redirect(with_problem(f"/person/{nik}", done.errors[0]) if done.errors
                        else f"/person/{nik}")

    @page(console, STEWARD)
    async def split(request: Request, signed: SignedIn) -> Response:
        nik = request.path_params["nik"][:16]
        records = [str(r)[:20] for r in request.state.form.getlist("record")][:200]
        if not records:
            return redirect(with_problem(f"/person/{nik}", "record"))
        here = await console.run(signed, PERSON, {"nik": nik})
        if not here.data.get("person"):
            raise Refused(404, "")
        done = await console.run(signed, SPLIT, {
            "person": here.data["person"]["id"], "records": records,
            "reason": form_text(request, "reason") or None})
        return redirect(with_problem(f"/person/{nik}", done.errors[0]) if done.errors
                        else f"/person/{nik}")

    return [
        Route("/review", review),
        Route("/review/{task}", decide, methods=["POST"]),
        Route("/findings", findings),
        Route("/findings/{finding}/resolve", resolve_finding, methods=["POST"]),
        Route("/person/{nik}", person),
        Route("/person/{nik}/merge", merge, methods=["POST"]),
        Route("/person/{nik}/split", split, methods=["POST"]),
    ]
