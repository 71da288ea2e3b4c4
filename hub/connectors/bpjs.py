"""BPJS Kesehatan connector: JKN membership (KIS, PBI segment, class, status) from the
VClaim membership feed, and the participant look-up by NIK."""

from __future__ import annotations

import time
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hub import jsontext
from hub.codecs import vclaim
from hub.connectors.base import Connector, Page, Stream
from hub.connectors.http import AgencyClient, AuthError, BadResponse
from hub.connectors.mapping import DateText, IdText, identity, parse_date


class Coded(BaseModel):
    kode: str
    keterangan: str


class Participant(BaseModel):
    model_config = ConfigDict(extra="allow")

    noKartu: str = Field(pattern=r"^\d{13}$")
    nama: str = Field(min_length=1)
    nik: IdText = None
    sex: str = Field(pattern=r"^[LP]$")
    tglLahir: DateText
    statusPeserta: Coded
    jenisPeserta: Coded
    hakKelas: Coded | None = None


class Members(Stream):
    name = "members"
    source = "bpjs"
    model = Participant

    def __init__(self, connector: BpjsConnector) -> None:
        self.connector = connector

    def key(self, raw: dict[str, Any]) -> str | None:
        return raw.get("noKartu") or None

    def normalize(self, record: BaseModel) -> dict[str, Any]:
        assert isinstance(record, Participant)
        active = record.statusPeserta.kode == "0"
        pbi = record.jenisPeserta.keterangan.upper().startswith("PBI")
        return identity(
            record.nik, record.nama, parse_date(record.tglLahir),
            "M" if record.sex == "L" else "F",
            program="PBI_JKN" if pbi else "JKN", card_number=record.noKartu,
            status="ACTIVE" if active else "INACTIVE",
            status_reason=record.statusPeserta.keterangan,
            segment=record.jenisPeserta.keterangan,
            care_class=record.hakKelas.kode if record.hakKelas else None,
        )

    async def fetch(self, client: AgencyClient, cursor: str | None) -> Page:
        body = await self.connector.get(
            client, f"/vclaim-rest/Peserta/feed/{cursor or 0}/{self.connector.page_size}"
        )
        return Page(body["list"], str(body["next_since"]), bool(body["has_more"]))


class BpjsConnector(Connector):
    name = "bpjs"
    credentials = ("cons_id", "secret", "user_key")

    def __init__(self, base_url: str, cons_id: str, secret: str, user_key: str, *,
                 page_size: int = 500, **kwargs: Any) -> None:
        super().__init__(base_url, **kwargs)
        self.cons_id, self.secret, self.user_key = cons_id, secret, user_key
        self.page_size = page_size
        self._streams = [Members(self)]

    @property
    def streams(self) -> list[Stream]:
        return self._streams

    def signed_headers(self, timestamp: str | None = None) -> dict[str, str]:
        stamp = timestamp or str(int(time.time()))
        return {
            "X-cons-id": self.cons_id, "X-timestamp": stamp, "user_key": self.user_key,
            "X-signature": vclaim.signature(self.cons_id, self.secret, stamp),
        }

    async def get(self, client: AgencyClient, path: str) -> Any:
        """A signed GET; the decrypted `response`, or None when BPJS says not found."""
        sent: dict[str, str] = {}

        async def headers() -> dict[str, str]:
            sent.update(self.signed_headers())  # fresh timestamp on every attempt
            return dict(sent)

        body = (await client.request("GET", path, headers=headers, expect_json=True)).data
        meta = body.get("metaData") or {}
        code = str(meta.get("code"))
        if code == "401":
            raise AuthError(self.name, f"VClaim refused the request: {meta.get('message')}")
        if code == "201":
            return None
        if code != "200" or body.get("response") is None:
            raise BadResponse(self.name, f"VClaim answered {meta}")
        try:
            text = vclaim.decrypt(body["response"], self.cons_id, self.secret,
                                  sent["X-timestamp"])
        except ValueError as exc:
            raise BadResponse(self.name, str(exc)) from None
        try:
            return jsontext.loads(text)
        except ValueError as exc:
            raise BadResponse(self.name, f"VClaim's decrypted answer is {exc}") from None

    async def participant(self, client: AgencyClient, nik: str, on: date | None = None
                          ) -> dict[str, Any] | None:
        when = (on or date.today()).isoformat()
        body = await self.get(client, f"/vclaim-rest/Peserta/nik/{nik}/tglSEP/{when}")
        return None if body is None else body["peserta"]
