"""Baznas connector: mustahik and the aid they received."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hub.connectors.mapping import DateText, IdText, identity, parse_date
from hub.connectors.rest import ApiKey, CursorFromBody, RestConnector, RestStream

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


class MustahikStream(RestStream):
    name = "mustahik"
    source = "baznas"
    model = Mustahik
    path = "/simba/api/v1/mustahik"
    records_path = ("data",)
    paginator = CursorFromBody("after", "per_page", next_path=("meta", "next_after"),
                               more_path=("meta", "has_more"))

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


class BaznasConnector(RestConnector):
    """SIMBA's mustahik feed, with an API key."""

    name = "baznas"
    stream_types = (MustahikStream,)
    credentials = ("api_key",)

    def __init__(self, base_url: str, api_key: str, **kwargs: Any) -> None:
        super().__init__(base_url, ApiKey(api_key), **kwargs)
