"""Agencies report back on a referral with a signed callback:
`POST /callbacks/<agency>/referrals` with `{"referral_id", "status", "reason",
"officer"}`, signed like the hub's webhooks with the agency's secret. A replay of a step
already taken answers `unchanged`, so an agency may retry freely."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub import jsontext
from hub.access.audit import AuditEvent, AuditWriter
from hub.access.roles import Principal, Role
from hub.codecs import signing
from hub.config import HubSettings
from hub.db.models import Referral
from hub.domain.referrals import Desk, IllegalTransition, ReferralStatus
from hub.errors import NotFound
from hub.services.desk import DeskError, ServiceDesk

ANSWERS = {"ACCEPTED": ReferralStatus.ACCEPTED, "REJECTED": ReferralStatus.REJECTED,
           "FULFILLED": ReferralStatus.FULFILLED}


async def referral_callback(engine: AsyncEngine, settings: HubSettings, audit: AuditWriter,
                            agency: str, headers: Any, body: bytes) -> tuple[int, dict]:
    endpoint = settings.desk.agencies.get(agency)
    if endpoint is None:
        return 404, {"error": f"no agency {agency!r} is configured"}
    problem = signing.problem(endpoint.secret, headers.get("x-slrt-timestamp"),
                              headers.get("x-slrt-signature"), body, time.time())
    if problem:
        return 401, {"error": problem}
    try:
        message = jsontext.loads(body)
        referral_id = int(message["referral_id"])
        target = ANSWERS[str(message["status"])]
    except (ValueError, KeyError, TypeError):
        return 400, {"error": "send {\"referral_id\": <id>, \"status\": ACCEPTED | REJECTED "
                     "| FULFILLED, \"reason\": ..., \"officer\": ...}"}
    reason, officer = message.get("reason"), message.get("officer")
    actor = f"{agency}:callback"
    try:
        await ServiceDesk(engine, settings).move(referral_id, target, Desk.AGENCY, actor,
                                                 officer, reason, agency=agency)
    except NotFound as error:
        return 404, {"error": str(error)}
    except (IllegalTransition, DeskError) as error:
        async with engine.connect() as conn:
            current = (await conn.execute(select(Referral.status).where(
                Referral.id == referral_id))).scalar_one_or_none()
        if current == target.value:
            return 200, {"result": "unchanged", "status": current}
        return 409, {"error": str(error)}
    audit.record(AuditEvent(
        principal=Principal(client_id=0, name=actor, role=Role.AGENCY, regions=(),
                            legal_basis="signed agency callback", purpose="referral status",
                            agency=agency),
        purpose="referral status", operation_type="callback", operation="referral",
        root_fields=["referral"], fields=[], variables=message))
    return 200, {"result": "recorded", "status": target.value}
