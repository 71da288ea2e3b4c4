"""Schedules as written in config/hub.toml, turned into APScheduler triggers."""

from __future__ import annotations

import re
from datetime import UTC

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

_EVERY = re.compile(r"^every\s+(\d+)\s*([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_schedule(text: str) -> BaseTrigger:
    """`every 15m` (s, m, h, d) or a five-field crontab line, in UTC."""
    spec = text.strip().lower()
    if match := _EVERY.match(spec):
        amount = int(match.group(1))
        if amount < 1:
            raise ValueError(f"{text!r}: the interval must be at least 1")
        return IntervalTrigger(**{_UNITS[match.group(2)]: amount}, timezone=UTC)
    try:
        return CronTrigger.from_crontab(spec, timezone=UTC)
    except ValueError as error:
        raise ValueError(f"{text!r} is neither 'every <n>s|m|h|d' nor a crontab line "
                         f"('0 2 * * *'): {error}") from None
