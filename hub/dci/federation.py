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
from typing import Any

import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.access.clients import ClientStore
from hub.access.roles import Role
from hub.access.tokens import b64url, thumbprint
from hub.config import (
    ConnectorSettings,
    DciSenderSettings,
    HubSettings,
    ScheduleSettings,
    SurvivorshipSettings,
)
from hub.connectors.dci import DciConnector, subscribe
from hub.connectors.registry import build_connector
from hub.db.models import DciInbox, Household, Person
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
