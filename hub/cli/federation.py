"""Hub to hub over DCI: a national hub that reads a district hub's registry and is
notified of its changes. The settings each side needs to know the other, and the
scenario itself, shared by `slrt-hub federation` and its test.

The district onboards the national hub as a sender (its client name, its public key,
its callback host); the national hub has the district as a `kind = "dci"` connector
(OAuth2 client credentials, a signing key) and as a registered sender of callbacks
(its JWK set), whose notifications update that connector's records.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.access.clients import ClientStore
from hub.access.roles import Role
from hub.config import (
    ConnectorSettings,
    DciSenderSettings,
    HubSettings,
    ScheduleSettings,
    SurvivorshipSettings,
)
from hub.connectors.dci import DciConnector, subscribe
from hub.connectors.registry import build_connector
from hub.crypto.jose import b64url, thumbprint
from hub.db.models import DciInbox, Household, Person
from hub.ports import free_ports
from hub.sync import jobs

NATIONAL_ID = "kemensos.national"
CONNECTOR = "district"


@dataclass(frozen=True)
class Pair:
    district: HubSettings
    national: HubSettings
    district_url: str
    national_url: str


async def onboard(district: HubSettings, district_engine: AsyncEngine,
                  national: HubSettings, district_port: int, national_port: int,
                  district_id: str) -> Pair:
    """Both sides' settings, and the national hub's client at the district."""
    client = f"national-{national_port}"
    _, api_key = await ClientStore(district_engine).create(
        client, Role.NATIONAL, legal_basis="UU 11/2009 Kesejahteraan Sosial; Permensos "
        "3/2021 (DTKS)", purpose="national social registry (DTSEN) consolidation")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    district_url = f"http://127.0.0.1:{district_port}"
    national_url = f"http://127.0.0.1:{national_port}"
    district_dci = district.dci.model_copy(update={"poll_seconds": 0.2, "senders": {
        **district.dci.senders, NATIONAL_ID: DciSenderSettings(
            clients=[client], require_signature=True,
            public_keys={thumbprint(key.public_key()): b64url(key.public_key()
                                                              .public_bytes_raw())},
            callback_hosts=[f"127.0.0.1:{national_port}"])}})
    district = district.model_copy(update={
        "dci": district_dci,
        "access": district.access.model_copy(update={"token_issuer": district_id}),
        "schedule": ScheduleSettings(enabled=False)})
    national_dci = national.dci.model_copy(update={"poll_seconds": 0.2, "senders": {
        district_id: DciSenderSettings(jwks_url=f"{district_url}/.well-known/jwks.json",
                                       connector=CONNECTOR)}})
    national = national.model_copy(update={
        "connectors": {CONNECTOR: ConnectorSettings(
            kind="dci", base_url=district_url, page_size=200,
            credentials={"client_id": client, "client_secret": api_key, "signing_key": pem},
            options={"sender_id": NATIONAL_ID, "receiver_id": district_id})},
        "survivorship": SurvivorshipSettings(identity=["dci_member"],
                                             residence=["dci_member"],
                                             welfare=["dci_household"], programs={}),
        "matching": national.matching.model_copy(update={"unique_sources": ["dci_member"]}),
        "access": national.access.model_copy(update={"token_issuer": "slrt-hub-national"}),
        "dci": national_dci, "schedule": ScheduleSettings(enabled=False)})
    return Pair(district, national, district_url, national_url)


@asynccontextmanager
async def serving(settings: HubSettings, engine: AsyncEngine, port: int) -> AsyncIterator[None]:
    """The hub on 127.0.0.1:port, with its DCI worker, until the block ends."""
    from hub.app import create_app

    server = uvicorn.Server(uvicorn.Config(create_app(settings, engine=engine),
                                           host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    for _ in range(400):  # uvicorn says it has started by a flag, not an event
        if server.started or task.done():
            break
        await asyncio.sleep(0.025)
    if not server.started:
        raise RuntimeError(f"the hub did not start on port {port}")
    try:
        yield
    finally:
        server.should_exit = True
        await task


async def households(engine: AsyncEngine) -> tuple[int, int]:
    """Households, and the persons in them: what a registry's Groups carry (a person
    no source places in a family is not in any Group)."""
    async with engine.connect() as conn:
        homes = (await conn.execute(select(func.count()).select_from(Household))).scalar_one()
        people = (await conn.execute(select(func.count()).select_from(Person).where(
            Person.household_id.is_not(None)))).scalar_one()
    return homes, people


async def waited(check: Callable[[], Awaitable[Any]], seconds: float = 20.0) -> Any:
    """The first truthy answer of `check`, polling (notifications are asynchronous)."""
    for _ in range(int(seconds / 0.1)):
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise TimeoutError("nothing arrived in time")


async def pull(pair: Pair, national_engine: AsyncEngine) -> jobs.SyncOutcome:
    connector = build_connector(CONNECTOR, pair.national.connectors[CONNECTOR])
    return await jobs.sync_and_reconcile(national_engine, pair.national, [connector])


async def subscribe_national(pair: Pair, national_engine: AsyncEngine) -> str:
    """The national hub subscribes to every change of the district; returns the
    subscription code the district sent back."""
    connector = build_connector(CONNECTOR, pair.national.connectors[CONNECTOR])
    assert isinstance(connector, DciConnector)
    await subscribe(connector, f"{pair.national_url}/dci/registry")

    async def code() -> str | None:
        async with national_engine.connect() as conn:
            message = (await conn.execute(select(DciInbox.message).where(
                DciInbox.action == "on-subscribe").order_by(DciInbox.id.desc()).limit(1))
            ).scalar()
        answers = (message or {}).get("subscribe_response") or [{}]
        found = answers[0].get("subscriptions") or [{}]
        return found[0].get("code")

    return str(await waited(code))


async def notifications(national_engine: AsyncEngine) -> int:
    async with national_engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(DciInbox).where(
            DciInbox.action == "notify"))).scalar_one())


@dataclass
class Demonstrated:
    """What the hub-to-hub scenario saw, step by step."""

    district: tuple[int, int]
    national: tuple[int, int]
    same_families: bool
    subscription: str
    notifications: int
    died: str
    alive_at_national: bool | None


async def demonstrate(district: HubSettings, district_engine: AsyncEngine,
                      agencies: dict[str, str], population: Path, national_url: str,
                      report: Callable[[str], None] = print) -> Demonstrated:
    """A district hub syncs its agencies; a national hub pulls it through DCI and
    subscribes; the district's civil registry reports a death; the district's sync
    notifies the national hub, whose reconciliation applies it."""
    from hub.connectors.registry import enabled_connectors
    from hub.db.engine import create_engine
    from hub.db.migrate import upgrade
    from hub.jsontext import read_jsonl

    await jobs.sync_and_reconcile(district_engine, district, enabled_connectors(district))
    counted = await households(district_engine)
    report(f"district hub: {counted[0]} households, {counted[1]} persons in them")
    await asyncio.to_thread(upgrade, national_url)
    national_engine = create_engine(national_url)
    district_port, national_port = free_ports(2)
    national_base = district.model_copy(update={
        "database": district.database.model_copy(update={"url": national_url})})
    pair = await onboard(district, district_engine, national_base, district_port,
                         national_port, "slrt-hub-" + district.population.regency
                         .replace(".", ""))
    try:
        async with serving(pair.district, district_engine, district_port), \
                serving(pair.national, national_engine, national_port):
            report(f"district hub at {pair.district_url}, national hub at "
                   f"{pair.national_url}")
            await pull(pair, national_engine)
            pulled = await households(national_engine)
            report(f"national hub pulled through DCI: {pulled[0]} households, "
                   f"{pulled[1]} persons")
            async with district_engine.connect() as conn:
                theirs = set((await conn.execute(select(Household.kk))).scalars())
            async with national_engine.connect() as conn:
                ours = set((await conn.execute(select(Household.kk))).scalars())
            code = await subscribe_national(pair, national_engine)
            report(f"national hub subscribed to every change: subscription {code}")
            resident = next(r for r in read_jsonl(population / "agencies" / "dukcapil.jsonl")
                            if r["STATUS_HIDUP"] == "HIDUP" and r["NIK"])
            await _post(f"{agencies['dukcapil']}/_sim/append/residents",
                        {**resident, "STATUS_HIDUP": "MATI", "TGL_KMT": "02-11-2026"})
            report(f"Dukcapil records the death of NIK {resident['NIK']}; the district "
                   "syncs")
            await jobs.sync_and_reconcile(district_engine, district,
                                          enabled_connectors(district))

            async def heard() -> int:
                return await notifications(national_engine)

            told = await waited(heard)
            report(f"national hub notified ({told} notify message(s)); it reconciles")
            await jobs.reconcile(national_engine, pair.national)
            async with national_engine.connect() as conn:
                alive = (await conn.execute(select(Person.alive).where(
                    Person.nik == resident["NIK"]))).scalar()
            report(f"at the national hub, NIK {resident['NIK']} is now "
                   f"{'alive' if alive else 'deceased'}")
    finally:
        await national_engine.dispose()
    return Demonstrated(counted, pulled, theirs == ours, code, told, resident["NIK"], alive)


async def _post(url: str, body: dict[str, Any]) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
        response.raise_for_status()
