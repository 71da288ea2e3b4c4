"""DCI subscriptions, pure: reading a `subscribe_request` item into what the hub will
watch (which registry events, which families, how often, until when), and the event
names a subscriber may use."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.dci.envelope import Rejection, parse_timestamp
from hub.dci.frequency import trigger
from hub.dci.query import IdQuery, Term, parse_id_query, parse_predicate
from hub.domain import changes

# The names a subscriber may give (after any namespace prefix, case and underscores
# ignored). REGISTER and NewHouseHoldMember are the spec's own.
EVENT_NAMES = {
    "register": changes.NEW_HOUSEHOLD, "newhousehold": changes.NEW_HOUSEHOLD,
    "newhouseholdmember": changes.MEMBER_ADDED, "memberadded": changes.MEMBER_ADDED,
    "memberremoved": changes.MEMBER_REMOVED, "householdmemberremoved": changes.MEMBER_REMOVED,
    "desilchange": changes.DESIL_CHANGED, "desilchanged": changes.DESIL_CHANGED,
    "death": changes.DEATH, "enrollmentchange": changes.ENROLLMENT_CHANGED,
    "enrolmentchange": changes.ENROLLMENT_CHANGED,
    "enrollmentchanged": changes.ENROLLMENT_CHANGED,
}
# What each event is called in a notification: the spec's enum (REGISTER,
# NewHouseHoldMember) in data.reg_event_type, the hub's own name beside it.
SPEC_EVENT = {changes.MEMBER_ADDED: "NewHouseHoldMember"}
HUB_EVENT = {changes.NEW_HOUSEHOLD: "NewHousehold", changes.MEMBER_ADDED: "MemberAdded",
             changes.MEMBER_REMOVED: "MemberRemoved", changes.DESIL_CHANGED: "DesilChange",
             changes.DEATH: "Death", changes.ENROLLMENT_CHANGED: "EnrollmentChange"}
EVENT_NAMESPACE = "ns:slrt:RegistryEventType:"


@dataclass(frozen=True, slots=True)
class SubscriptionSpec:
    reference_id: str
    event_types: tuple[str, ...]
    filter_type: str  # none, idtype-value, predicate
    filter: Any
    record_type: str  # Group or Member
    frequency: str | None
    start_time: datetime | None
    end_time: datetime | None
    locale: str | None


def event_types(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, str) or not raw.strip():
        raise Rejection("rjct.notify_types.invalid", "subscribe_criteria.reg_event_type is "
                        "required (e.g. REGISTER, or several: \"Death,DesilChange\")")
    found: list[str] = []
    for name in (part.strip() for part in raw.split(",")):
        if name in ("*", "ALL", "all"):
            return changes.KINDS
        key = name.rsplit(":", 1)[-1].replace("_", "").lower()
        if key not in EVENT_NAMES:
            raise Rejection("rjct.notify_types.invalid", f"reg_event_type {name!r} is not "
                            f"one of REGISTER, NewHouseHoldMember, "
                            f"{', '.join(HUB_EVENT[k] for k in changes.KINDS[2:])} or *")
        if EVENT_NAMES[key] not in found:
            found.append(EVENT_NAMES[key])
    return tuple(found)


def parse_filter(filter_type: Any, raw: Any) -> tuple[str, Any]:
    """The filter checked now (a wrong one is refused at subscription, not at the first
    notification) and kept as sent."""
    if filter_type in (None, "") and raw in (None, {}, []):
        return "none", None
    if filter_type == "idtype-value":
        query = parse_id_query(raw)
        if query.id_type not in ("NIK", "KK"):
            raise Rejection("rjct.notify_details.invalid", "an idtype-value filter names a "
                            "family by KK or a person by NIK")
        return filter_type, {"type": query.id_type, "value": query.value}
    if filter_type == "predicate":
        parse_predicate(raw)
        return filter_type, raw
    raise Rejection("rjct.notify_details.invalid", "filter_type is idtype-value or "
                    f"predicate (or none, with an empty filter), got {filter_type!r}")


def compiled_filter(filter_type: str, raw: Any) -> IdQuery | tuple[Term, ...] | None:
    if filter_type == "idtype-value":
        return parse_id_query(raw)
    if filter_type == "predicate":
        return parse_predicate(raw)
    return None


def record_type(raw: Any) -> str:
    name = str(raw or "Group").rsplit(":", 1)[-1]
    if name not in ("Group", "Member"):
        raise Rejection("rjct.notify_details.invalid", "notify_record_type is Group or "
                        f"Member, got {raw!r}")
    return name


def parse_subscription(raw: Any, locale: Any = None) -> SubscriptionSpec:
    if not isinstance(raw, dict):
        raise Rejection("rjct.reference_id.invalid", "each subscribe_request item is an "
                        "object")
    reference = raw.get("reference_id")
    if not isinstance(reference, str) or not reference.strip():
        raise Rejection("rjct.reference_id.invalid", "reference_id is required")
    parse_timestamp(raw.get("timestamp"), "rjct.timestamp.invalid", "timestamp")
    criteria = raw.get("subscribe_criteria")
    if not isinstance(criteria, dict):
        raise Rejection("rjct.notify_details.invalid", "subscribe_criteria is required")
    kinds = event_types(criteria.get("reg_event_type"))
    filter_type, filter_value = parse_filter(criteria.get("filter_type"),
                                             criteria.get("filter"))
    frequency = criteria.get("frequency")
    cron, start, end = None, None, None
    if frequency is not None:
        if not isinstance(frequency, dict):
            raise Rejection("rjct.notify_details.invalid", "frequency is {start_time, "
                            "end_time, frequency}")
        start = parse_timestamp(frequency.get("start_time"), "rjct.timestamp.invalid",
                                "frequency.start_time")
        end = parse_timestamp(frequency.get("end_time"), "rjct.timestamp.invalid",
                              "frequency.end_time")
        if end <= start:
            raise Rejection("rjct.notify_details.invalid", "frequency.end_time must be after "
                            "start_time")
        cron = frequency.get("frequency")
        if not isinstance(cron, str) or not cron.strip():
            raise Rejection("rjct.notify_details.invalid", "frequency.frequency is a cron "
                            "expression")
        trigger(cron)
    return SubscriptionSpec(reference.strip(), kinds, filter_type, filter_value,
                            record_type(criteria.get("notify_record_type")),
                            cron, start, end, locale if isinstance(locale, str) else None)
