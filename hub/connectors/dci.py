"""A DCI registry as a source: any social registry that speaks the DCI standard (a
district's SLRT Hub, a national or civil registry), read by synchronous search.

Households come as `Group` records, persons as their `member_list`: two streams, so
persons are linked like any agency's and households carry the registry's welfare data
(desil as `poverty_score`). Each pass reads the whole result page by page (the DCI has
no change cursor); staging keeps what did not change from being written again, and the
registry's notifications (`/dci/registry/notify`) bring changes between passes.

Authentication is OAuth2 client credentials at the registry's token endpoint; every
message is signed when the connector is given a key (`signing_key`, an Ed25519 PEM),
as registries that onboard their senders require.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, ConfigDict, Field

from hub.connectors.base import Connector, Page, Stream
from hub.connectors.http import AgencyClient, BadResponse
from hub.connectors.mapping import identity, iso, parse_date
from hub.connectors.rest import OAuth2ClientCredentials
from hub.crypto import signatures
from hub.crypto.jose import thumbprint

HOUSEHOLD_SOURCE = "dci_household"
MEMBER_SOURCE = "dci_member"
SEX = {"male": "M", "female": "F", "m": "M", "f": "F"}


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Identifier(_Open):
    identifier_type: str
    identifier_value: str


class Place(_Open):
    region_code: str = Field(min_length=2)
    address: str | None = None


class Group(_Open):
    id: str = Field(alias="@id", min_length=1)
    group_identifier: list[Identifier] = []
    place: Place
    poverty_score: int | None = Field(None, ge=1, le=10)
    member_list: list[dict[str, Any]] = []


class Name(_Open):
    given_name: str = Field(min_length=1)


class Demographic(_Open):
    name: Name
    sex: str | None = None
    birth_date: str | None = None
    birth_place: str | None = None


class Member(_Open):
    id: str = Field(alias="@id", min_length=1)
    member_identifier: list[Identifier] = []
    demographic_info: Demographic
    is_alive: bool = True
    relationship_to_head: str | None = None
    death_date: str | None = None
    group: dict[str, Any]  # the household it was read in: id, KK, region (ours)


def _identifier(identifiers: list[Identifier], kind: str) -> str | None:
    return next((i.identifier_value for i in identifiers
                 if i.identifier_type.rsplit(":", 1)[-1].upper() == kind), None)


class _GroupPages(Stream):
    """Page after page of the registry's households; the cursor is the next page."""

    def __init__(self, connector: DciConnector) -> None:
        self.connector = connector

    async def fetch(self, client: AgencyClient, cursor: str | None) -> Page:
        number = int(cursor or 1)
        groups, total = await self.connector.search_groups(client, number)
        more = number * self.connector.page_size < total
        # A finished pass starts again from page 1 next time: the registry is read whole.
        return Page(self.records(groups), str(number + 1) if more else None, more)

    def records(self, groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return groups

    def qualified(self, local: str) -> str:
        return f"{self.connector.name}:{local}"[:80]


class DciHouseholds(_GroupPages):
    name = "households"
    source = HOUSEHOLD_SOURCE
    model = Group

    def key(self, raw: dict[str, Any]) -> str | None:
        return self.qualified(raw["@id"]) if raw.get("@id") else None

    def normalize(self, record: BaseModel) -> dict[str, Any]:
        assert isinstance(record, Group)
        return {"household_key": self.qualified(record.id),
                "kk": _identifier(record.group_identifier, "KK"),
                "village_code": record.place.region_code, "address": record.place.address,
                "desil": record.poverty_score, "size": len(record.member_list),
                "programs": {}}


class DciMembers(_GroupPages):
    name = "members"
    source = MEMBER_SOURCE
    model = Member

    def records(self, groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for group in groups:
            context = {"@id": group.get("@id"),
                       "kk": _identifier([Identifier(**i) for i in group.get(
                           "group_identifier", []) if isinstance(i, dict)
                           and {"identifier_type", "identifier_value"} <= i.keys()], "KK"),
                       "region_code": (group.get("place") or {}).get("region_code")}
            for member in group.get("member_list") or []:
                out.append({**member, "group": context} if isinstance(member, dict)
                           else member)
        return out

    def key(self, raw: dict[str, Any]) -> str | None:
        return self.qualified(raw["@id"]) if raw.get("@id") else None

    def normalize(self, record: BaseModel) -> dict[str, Any]:
        assert isinstance(record, Member)
        demographic = record.demographic_info
        group = record.group
        return identity(
            _identifier(record.member_identifier, "NIK"), demographic.name.given_name,
            parse_date(demographic.birth_date),
            SEX.get((demographic.sex or "").lower()),
            kk=group.get("kk"), household_key=self.qualified(str(group.get("@id"))),
            village_code=group.get("region_code"), birth_place=demographic.birth_place,
            relation=(record.relationship_to_head or "").upper() or None,
            alive=record.is_alive, death_date=iso(parse_date(record.death_date)),
        )


class DciConnector(Connector):
    """`name` is the registry's name in `[connectors]`: several registries (districts)
    are several connectors, each with its own cursors and keys."""

    name = "dci"
    credentials = ("client_id", "client_secret")
    optional_credentials = ("signing_key",)

    def __init__(self, base_url: str, client_id: str, client_secret: str, *,
                 name: str = "dci", sender_id: str = "slrt-hub", receiver_id: str = "",
                 signing_key: str | None = None, region: str | None = None,
                 signature_scheme: str = "header", page_size: int = 100,
                 **kwargs: Any) -> None:
        super().__init__(base_url, **kwargs)
        self.name = name
        self.sender_id = sender_id
        self.receiver_id = receiver_id
        self.region = region
        self.scheme = signature_scheme
        self.page_size = min(page_size, 500)
        self.credentials = OAuth2ClientCredentials(name, "/dci/oauth2/client/token",
                                                   client_id, client_secret)
        self.signer = _signer(sender_id, signing_key) if signing_key else None
        self._streams: list[Stream] = [DciHouseholds(self), DciMembers(self)]

    @property
    def streams(self) -> list[Stream]:
        return self._streams

    def envelope(self, action: str, message: dict[str, Any], total: int,
                 sender_uri: str | None = None) -> dict[str, Any]:
        header: dict[str, Any] = {
            "version": "1.0.0", "message_id": uuid.uuid4().hex,
            "message_ts": datetime.now(UTC).isoformat(), "action": action,
            "sender_id": self.sender_id, "total_count": total, "is_msg_encrypted": False}
        if self.receiver_id:
            header["receiver_id"] = self.receiver_id
        if sender_uri:
            header["sender_uri"] = sender_uri
        body: dict[str, Any] = {"header": header, "message": message}
        if self.signer is not None:
            body["signature"] = signatures.sign(self.scheme, self.signer, header, message,
                                                int(time.time()))
        return body

    def criteria(self, page: int) -> dict[str, Any]:
        """Every household (of `region`, if set), in id order, one page."""
        condition = {"attribute_name": "region_code", "operator": "eq",
                     "attribute_value": self.region} if self.region else \
            {"attribute_name": "desil", "operator": "ge", "attribute_value": "1"}
        query: list[dict[str, Any]] = [{"seq_num": 1, "expression1": condition}]
        if not self.region:  # households without a desil are households too
            query = [{"seq_num": 1, "expression1": condition, "condition": "or",
                      "expression2": {"attribute_name": "desil", "operator": "lt",
                                      "attribute_value": "1"}}]
        return {"version": "1.0.0", "reg_type": "ns:org:RegistryType:Social",
                "query_type": "predicate", "query": query, "response_entity": "Group",
                "sort": [{"attribute_name": "id", "sort_order": "asc"}],
                "pagination": {"page_size": self.page_size, "page_number": page}}

    async def search_groups(self, client: AgencyClient, page: int
                            ) -> tuple[list[dict[str, Any]], int]:
        message = {"transaction_id": uuid.uuid4().hex[:20], "search_request": [{
            "reference_id": uuid.uuid4().hex[:12],
            "timestamp": datetime.now(UTC).isoformat(),
            "search_criteria": self.criteria(page)}]}
        response = await client.request(
            "POST", "/dci/registry/sync/search", json=self.envelope("search", message, 1),
            headers=lambda: self.credentials.headers(client),
            on_unauthorized=lambda: self.credentials.renew(client), expect_json=True)
        body = response.data
        try:
            answer = body["message"]["search_response"][0]
        except (KeyError, IndexError, TypeError):
            raise BadResponse(self.name, f"not a DCI search reply: {str(body)[:200]}") \
                from None
        if answer.get("status") != "succ":
            raise BadResponse(self.name, f"search refused: {answer.get('status_reason_code')}"
                                         f" {answer.get('status_reason_message', '')}")
        records = answer.get("data", {}).get("reg_records") or []
        total = answer.get("pagination", {}).get("total_count", len(records))
        return list(records), int(total)


async def subscribe(connector: DciConnector, callback_base: str, events: str = "*",
                    frequency: dict[str, str] | None = None) -> dict[str, Any]:
    """Ask the registry to notify this hub of its changes (households, as Groups, in
    the connector's region if it has one). The registry acknowledges; the subscription
    code arrives at our `on-subscribe`. Returns the acknowledgement."""
    criteria: dict[str, Any] = {
        "version": "1.0.0", "reg_type": "ns:org:RegistryType:Social",
        "reg_event_type": events, "notify_record_type": "Group", "filter": {}}
    if connector.region:
        criteria |= {"filter_type": "predicate", "filter": [{"seq_num": 1, "expression1": {
            "attribute_name": "region_code", "operator": "eq",
            "attribute_value": connector.region}}]}
    if frequency:
        criteria["frequency"] = frequency
    message = {"transaction_id": uuid.uuid4().hex[:20], "subscribe_request": [{
        "reference_id": uuid.uuid4().hex[:12], "timestamp": datetime.now(UTC).isoformat(),
        "subscribe_criteria": criteria}]}
    async with AgencyClient(connector.name, connector.base_url) as client:
        response = await client.request(
            "POST", "/dci/registry/subscribe",
            json=connector.envelope("subscribe", message, 1, sender_uri=callback_base),
            headers=lambda: connector.credentials.headers(client),
            on_unauthorized=lambda: connector.credentials.renew(client), expect_json=True)
    ack = response.data.get("message", {}) if isinstance(response.data, dict) else {}
    if ack.get("ack_status") != "ACK":
        raise BadResponse(connector.name, f"subscription refused: {response.data}")
    return dict(ack)


def _signer(sender_id: str, pem: str) -> signatures.Signer:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the DCI signing key must be an Ed25519 private key (PEM)")
    return signatures.Signer(sender_id, thumbprint(key.public_key()), key)
