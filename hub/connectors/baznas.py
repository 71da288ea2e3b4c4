"""Baznas connector: mustahik and the aid they received."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hub.connectors.base import Connector, Page, Stream
from hub.connectors.http import AgencyClient
from hub.connectors.mapping import DateText, IdText, identity, parse_date

ASNAF = Literal["Fakir", "Miskin", "Amil", "Mualaf", "Riqab", "Gharimin", "Fisabilillah",
                "Ibnu Sabil"]


class Mustahik(BaseModel):
    model_config = ConfigDict(extra="allow")

    id_mustahik: str = Field(min_length=1)
    nik: IdText = None
    nama: str = Field(min_length=1)
    asnaf: ASNAF
    program: str
    jumlah_bantuan: int = Field(ge=0)
    tanggal_bantuan: DateText
    alamat: str | None = None
    kode_desa: str | None = Field(default=None, pattern=r"^\d{10}$")


class MustahikStream(Stream):
    name = "mustahik"
    source = "baznas"
    model = Mustahik

    def __init__(self, connector: BaznasConnector) -> None:
        self.connector = connector

    def key(self, raw: dict[str, Any]) -> str | None:
        return raw.get("id_mustahik") or None

    def normalize(self, record: BaseModel) -> dict[str, Any]:
        assert isinstance(record, Mustahik)
        code = record.kode_desa
        village = f"{code[:2]}.{code[2:4]}.{code[4:6]}.{code[6:]}" if code else None
        return identity(
            record.nik, record.nama, None, None, village_code=village, address=record.alamat,
            program="BAZNAS", asnaf=record.asnaf, baznas_program=record.program,
            amount=record.jumlah_bantuan,
            aid_date=parse_date(record.tanggal_bantuan).isoformat(),
        )

    async def fetch(self, client: AgencyClient, cursor: str | None) -> Page:
        response = await client.request(
            "GET", "/simba/api/v1/mustahik",
            params={"after": cursor or "0", "per_page": str(self.connector.page_size)},
            headers=self.connector.auth_headers, expect_json=True,
        )
        body = response.data
        meta = body["meta"]
        return Page(body["data"], str(meta["next_after"]), bool(meta["has_more"]))


class BaznasConnector(Connector):
    name = "baznas"

    def __init__(self, base_url: str, api_key: str, *, page_size: int = 500,
                 **kwargs: Any) -> None:
        super().__init__(base_url, **kwargs)
        self.api_key = api_key
        self.page_size = page_size
        self._streams = [MustahikStream(self)]

    @property
    def streams(self) -> list[Stream]:
        return self._streams

    async def auth_headers(self) -> dict[str, str]:
        return {"X-Api-Key": self.api_key}
