"""A DCI partner for the tests: its own Ed25519 key, registered with the hub as a
sender, and a real HTTP receiver on 127.0.0.1 for the hub's callbacks (which can be
told to fail for a while)."""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.access.roles import Role
from hub.config import DciSenderSettings, DciSettings, HubSettings
from hub.crypto import signatures
from hub.crypto.jose import b64url, public_from_jwk, thumbprint
from tests.access.conftest import Hub, open_hub
from tests.pg_server import free_ports
from tests.schema.helpers import GraphQLClient, register

SENDER = "kemensos.example"


@dataclass
class Receiver:
    """The partner's callback endpoints: keeps every message by path."""

    port: int
    received: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    failures: int = 0  # answer 503 to this many requests first

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/dci/registry"

    async def handle(self, request: web.Request) -> web.Response:
        if self.failures > 0:
            self.failures -= 1
            return web.json_response({"errors": [{"code": "err.service.unavailable",
                                                  "message": "down"}]}, status=503)
        body = await request.json()
        self.received[request.match_info["tail"]].append(body)
        return web.json_response({"message": {
            "ack_status": "ACK", "timestamp": datetime.now(UTC).isoformat(),
            "correlation_id": body.get("header", {}).get("message_id", "")}})


@asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    port, = free_ports(1)
    receiver = Receiver(port)
    app = web.Application()
    app.router.add_post("/dci/registry/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield receiver
    finally:
        await runner.cleanup()


@dataclass
class Partner:
    hub: Hub
    client: GraphQLClient
    receiver: Receiver
    key: Ed25519PrivateKey
    api_key: str
    scheme: str = "header"

    async def restart(self) -> None:
        """The hub process stops and another starts on the same database."""
        await self.hub.close()
        self.hub = await open_hub(self.hub.settings, self.hub.engine)
        self.client = GraphQLClient(self.hub.app, self.api_key)
        self.hub.clients.append(self.client)

    @property
    def signer(self) -> signatures.Signer:
        return signatures.Signer(SENDER, thumbprint(self.key.public_key()), self.key)

    def envelope(self, action: str, message: dict[str, Any], total: int | None = None,
                 signed: bool = True, **header: Any) -> dict[str, Any]:
        head = {"version": "1.0.0", "message_id": uuid.uuid4().hex,
                "message_ts": datetime.now(UTC).isoformat(), "action": action,
                "sender_id": SENDER, "sender_uri": self.receiver.base + "/on-search",
                "receiver_id": "slrt-hub", "total_count": 1 if total is None else total,
                "is_msg_encrypted": False, **header}
        body: dict[str, Any] = {"header": head, "message": message}
        if signed:
            body["signature"] = signatures.sign(self.scheme, self.signer, head, message,
                                                int(time.time()))
        return body

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        return await self.client.http.post("/dci/registry/" + path, json=body)

    async def work(self) -> dict[str, int]:
        """What the hub's DCI worker does on its next pass."""
        return await self.hub.app.state.dci_worker.run_once()

    async def hub_keys(self) -> Any:
        keys = (await self.client.http.get("/.well-known/jwks.json")).json()["keys"]
        found = {k["kid"]: public_from_jwk(k) for k in keys}
        return lambda sender, kid: found.get(kid) if sender == "slrt-hub" else None


def partner_settings(settings: HubSettings, key: Ed25519PrivateKey, receiver: Receiver,
                     **sender: Any) -> HubSettings:
    entry = DciSenderSettings(
        public_keys={thumbprint(key.public_key()): b64url(key.public_key().public_bytes_raw())},
        callback_hosts=[f"127.0.0.1:{receiver.port}"], **sender)
    dci = DciSettings(senders={SENDER: entry}, callback_backoff_seconds=0.01,
                      callback_attempts=3)
    return settings.model_copy(update={"dci": dci})


@asynccontextmanager
async def partnered(settings: HubSettings, engine: Any, role: Role = Role.NATIONAL,
                    regions: tuple[str, ...] = (), agency: str | None = None,
                    **sender: Any) -> AsyncIterator[Partner]:
    key = Ed25519PrivateKey.generate()
    async with receiving() as receiver:
        hub = await open_hub(partner_settings(settings, key, receiver, **sender), engine)
        _, api_key = await register(engine, role, regions, agency)
        client = GraphQLClient(hub.app, api_key)
        hub.clients.append(client)
        partner = Partner(hub, client, receiver, key, api_key)
        try:
            yield partner
        finally:
            await partner.hub.close()
