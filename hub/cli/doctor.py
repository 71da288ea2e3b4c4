"""`slrt-hub doctor`: what a district's operator checks before (and after) going live,
each check one line saying what is wrong and what to do about it."""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import text

from hub.config import PROJECT_ROOT, HubSettings, config_path

SKEW_LIMIT_SECONDS = 60  # BPJS refuses a VClaim signature 5 minutes off; warn well before


@dataclass(frozen=True)
class Check:
    status: str  # OK, WARN or FAIL
    what: str
    detail: str


def _shipped() -> dict[str, Any]:
    shipped = PROJECT_ROOT / "config" / "hub.toml"
    return tomllib.loads(shipped.read_text(encoding="utf-8")) if shipped.is_file() else {}


def shipped_secrets(settings: HubSettings, shipped: dict[str, Any]) -> Iterator[Check]:
    """Secrets still at the values the project ships for its demo: anyone who has read
    the repository knows them. Pure."""
    desk = shipped.get("desk", {})
    if settings.desk.letter_secret == desk.get("letter_secret"):
        yield Check("WARN", "desk.letter_secret", "still the shipped value: letters can be "
                    "forged; set HUB_DESK__LETTER_SECRET")
    for agency, endpoint in settings.desk.agencies.items():
        if endpoint.secret == desk.get("agencies", {}).get(agency, {}).get("secret"):
            yield Check("WARN", f"desk.agencies.{agency}.secret", "still the shipped value; "
                        f"set HUB_DESK__AGENCIES__{agency.upper()}__SECRET")
    connectors = shipped.get("connectors", {})
    for name, conf in settings.connectors.items():
        defaults = connectors.get(name, {}).get("credentials", {})
        for key, value in conf.credentials.items():
            if conf.enabled and value and value == defaults.get(key):
                yield Check("WARN", f"connectors.{name}.credentials.{key}", "still the demo "
                            f"value; set HUB_CONNECTORS__{name.upper()}__CREDENTIALS__"
                            f"{key.upper()}")


async def _database(settings: HubSettings) -> list[Check]:
    from sqlalchemy.engine import make_url

    from hub.db.engine import create_engine, is_sqlite
    from hub.db.migrate import head_revision

    url = settings.database.url
    exists = await asyncio.to_thread(Path(make_url(url).database or "").is_file)
    if is_sqlite(url) and not exists:
        return [Check("FAIL", "database", f"no database file at {make_url(url).database}: "
                      "run `slrt-hub db upgrade` (or check database.url)")]
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            revision = (await conn.execute(text("SELECT version_num FROM alembic_version"))
                        ).scalar()
            persons = (await conn.execute(text("SELECT count(*) FROM person"))).scalar()
    except Exception as error:  # unreachable, or no schema at all
        return [Check("FAIL", "database", f"{type(error).__name__}: "
                      f"{str(error).splitlines()[0][:160]}; check database.url, and run "
                      "`slrt-hub db upgrade`")]
    finally:
        await engine.dispose()
    head = head_revision()
    checks = [Check("OK", "database", "reachable")]
    checks.append(Check("OK", "migrations", f"at {head}") if revision == head else
                  Check("FAIL", "migrations", f"at {revision}, this code needs {head}: run "
                        "`slrt-hub db upgrade`"))
    if not persons:
        checks.append(Check("WARN", "registry", "holds no persons yet: run `slrt-hub sync` "
                            "(or `slrt-hub demo` to try the hub)"))
    return checks


async def _connector(session: aiohttp.ClientSession, name: str, url: str) -> list[Check]:
    try:
        async with session.get(url) as response:
            served = response.headers.get("Date")
    except (aiohttp.ClientError, TimeoutError) as error:
        return [Check("FAIL", f"connector {name}", f"{url} does not answer "
                      f"({type(error).__name__}); check connectors.{name}.base_url")]
    checks = [Check("OK", f"connector {name}", f"{url} answers")]
    if served:
        try:
            skew = abs((datetime.now(UTC) - parsedate_to_datetime(served)).total_seconds())
        except (TypeError, ValueError):
            skew = None
        if skew is not None and skew > SKEW_LIMIT_SECONDS:
            checks.append(Check("WARN", f"clock against {name}", f"{skew:.0f} s apart: "
                                "signed calls (BPJS VClaim) fail 5 minutes off; keep NTP "
                                "running"))
    return checks


async def diagnose(settings: HubSettings) -> list[Check]:
    checks = [Check("OK", "configuration", f"read from {config_path()}")]
    checks += list(shipped_secrets(settings, _shipped()))
    checks += await _database(settings)
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        answers = await asyncio.gather(*(
            _connector(session, name, conf.base_url)
            for name, conf in settings.connectors.items() if conf.enabled))
    for found in answers:
        checks += found
    return checks
