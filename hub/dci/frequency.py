"""A DCI subscription's notification frequency, pure: the spec's cron expression (the
Quartz form of its example, `0 0 0 5,15 * ? *`: seconds, minutes, hours, day of month,
month, day of week, optional year) or a five-field crontab line, read into an
APScheduler trigger that says when notifications are next due."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from hub.dci.envelope import Rejection

# Quartz numbers the days of the week from Sunday = 1; APScheduler takes names.
_QUARTZ_DAYS = {str(n): name for n, name in
                enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"], start=1)}
_DAY = re.compile(r"\d")
ZONE = ZoneInfo("Asia/Jakarta")  # the registry's clock: "at midnight" is WIB midnight


def _days_of_week(field: str) -> str:
    if field == "?":
        return "*"
    if any(mark in field for mark in ("L", "#")):
        raise Rejection("rjct.notify_details.invalid", f"day of week {field!r}: L and # "
                        "are not supported")
    return _DAY.sub(lambda m: _QUARTZ_DAYS.get(m.group(), m.group()), field.lower())


def trigger(expression: str) -> CronTrigger:
    fields = expression.split()
    try:
        if len(fields) == 5:
            return CronTrigger.from_crontab(expression, timezone=ZONE)
        if len(fields) in (6, 7):
            second, minute, hour, day, month, weekday = fields[:6]
            if any(mark in day for mark in ("L", "W")):
                raise Rejection("rjct.notify_details.invalid", f"day of month {day!r}: L "
                                "and W are not supported")
            return CronTrigger(second=second, minute=minute, hour=hour,
                               day="*" if day == "?" else day, month=month,
                               day_of_week=_days_of_week(weekday),
                               year=fields[6] if len(fields) == 7 else None, timezone=ZONE)
    except ValueError as wrong:
        raise Rejection("rjct.notify_details.invalid", f"frequency {expression!r}: {wrong}"
                        ) from None
    raise Rejection("rjct.notify_details.invalid", f"frequency {expression!r} is not a cron "
                    "expression (Quartz: s m h dom mon dow [year], or crontab: m h dom mon dow)")


def next_due(expression: str | None, after: datetime) -> datetime | None:
    """When notifications are next due, at or after `after`: `after` itself for a
    subscription with no frequency (notified as soon as events happen), None once the
    schedule has no more times (a year that has passed)."""
    if not expression:
        return after
    found = trigger(expression).get_next_fire_time(None, after)
    return found.astimezone(UTC) if found else None  # stored as UTC everywhere
