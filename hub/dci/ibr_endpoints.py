"""The IBR endpoints: `/registry/sync/enrolled` (is this person or family enrolled in
programme X: yes or no) and `/registry/sync/enrollment/updates` (a programme pushes its
enrolments, staged like an agency's records)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

from hub.access.audit import AuditEvent
from hub.access.roles import Role
from hub.connectors.staging import prepare, stage_page
from hub.dci import ibr, registry
from hub.dci.envelope import Rejection, reply_header, timestamp
from hub.dci.gateway import REGISTRY_ROLES, DciGateway, faults_masked
from hub.dci.query import enrolled_question

logger = logging.getLogger("hub.dci")
# "Is this person enrolled in programme X" answers yes or no and nothing else: what an
# agency or a partner needs so that help is not given twice.
ENROLLED_ROLES = REGISTRY_ROLES | {Role.AGENCY, Role.PARTNER}
# A programme's system (an agency, or Kemensos) pushes its enrolments.
UPDATE_ROLES = frozenset({Role.NATIONAL, Role.AGENCY})
MAX_BENEFICIARIES = 10_000


class IbrEndpoints:
    """The Integrated Beneficiary Registry's side of the hub."""

    def __init__(self, gateway: DciGateway) -> None:
        self.gateway = gateway

    @faults_masked
    async def sync_enrolled(self, request: Request) -> Response:
        """IBR: is the person (NIK) or family (KK) enrolled in a programme: yes or no."""
        opened = await self.gateway.opened(request, ENROLLED_ROLES, "search")
        if isinstance(opened, Response):
            return opened
        principal, header, message = opened.principal, opened.header, opened.message
        criteria = message.get("enrolled_criteria") if isinstance(message, dict) else None
        transaction = str(message.get("transaction_id", "")) if isinstance(message, dict) \
            else ""
        try:
            question = enrolled_question(criteria)
        except Rejection as rejection:
            return self.gateway.rejected(header, rejection, 400, action="on-search")
        event = AuditEvent(principal=principal, purpose=principal.purpose,
                           operation_type="dci", operation="registry/sync/enrolled",
                           root_fields=["enrolled"], fields=["enrolled_status"])
        enrolled = await registry.enrolled(self.gateway.engine, question, principal.scope, event)
        self.gateway.audit.record(event)
        answer = {"reference_id": transaction or header.message_id,
                  "timestamp": timestamp(datetime.now(UTC)), "status": "succ",
                  "enrolled_status": "yes" if enrolled else "no"}
        return await self.gateway.reply(
            reply_header(header, "on-search", "succ", sender_id=self.gateway.hub_id,
                         total=1, completed=1),
            {"transaction_id": transaction, "correlation_id": header.message_id,
             "enrolled_response": [answer]})

    @faults_masked
    async def enrollment_updates(self, request: Request) -> Response:
        """IBR: a programme pushes its enrolments; each beneficiary is staged (or
        quarantined with its reason) for the next reconciliation."""
        opened = await self.gateway.opened(request, UPDATE_ROLES, "notify", callback=True)
        if isinstance(opened, Response):
            return opened
        header, message = opened.header, opened.message
        updates = message.get("enrolled_updates") if isinstance(message, dict) else None
        beneficiaries = updates.get("beneficiaries") if isinstance(updates, dict) else None
        if not isinstance(beneficiaries, list) or not beneficiaries:
            return self.gateway.rejected(header, Rejection(
                "rjct.action.invalid", "message.enrolled_updates.beneficiaries must be a "
                "non-empty list"), 400, "on-notify")
        if len(beneficiaries) > MAX_BENEFICIARIES:
            return self.gateway.rejected(header, Rejection(
                "rjct.total_count.limit_exceeded", f"at most {MAX_BENEFICIARIES} "
                "beneficiaries in one message"), 400, "on-notify")
        stream = ibr.EnrolmentUpdates(header.sender_id)
        now = timestamp(datetime.now(UTC))
        answers = []
        for position, raw in enumerate(beneficiaries):
            prepared = prepare(stream, raw)
            given = raw.get("reference_id") if isinstance(raw, dict) else None
            answer = {"reference_id": str(given or prepared.key or position)[:99],
                      "timestamp": now, "status": "rjct" if prepared.reason else "succ"}
            if prepared.reason:
                answer["status_reason_message"] = \
                    f"kept in quarantine: {prepared.reason}"[:999]
            answers.append(answer)
        async with self.gateway.engine.begin() as conn:
            counts = await stage_page(conn, stream, beneficiaries)
        logger.info("IBR updates from %s: %s", header.sender_id, counts.as_dict())
        audit = AuditEvent(principal=opened.principal, purpose=opened.principal.purpose,
                           operation_type="dci", operation="registry/sync/enrollment/updates",
                           root_fields=["enrollment_updates"], fields=["beneficiaries"])
        self.gateway.audit.record(audit)
        return await self.gateway.reply(
            reply_header(header, "on-notify", "succ", sender_id=self.gateway.hub_id,
                         total=len(beneficiaries),
                         completed=sum(a["status"] == "succ" for a in answers)),
            {"transaction_id": str(message.get("transaction_id") or ""),
             "correlation_id": header.message_id, "enrolled_response": answers})
