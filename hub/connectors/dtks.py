"""DTKS connector: households and individuals from the SIKS-NG incremental API."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hub.connectors.base import Connector, Page, Stream
from hub.connectors.http import AgencyClient
from hub.connectors.mapping import identity, parse_date

RELATIONS = {1: "HEAD", 2: "SPOUSE", 3: "CHILD", 4: "CHILD_IN_LAW", 5: "GRANDCHILD",
             6: "PARENT", 7: "HELPER", 8: "OTHER"}


class DtksHousehold(BaseModel):
    model_config = ConfigDict(extra="allow")

    IDBDT: str = Field(min_length=1)
    KDPROP: str = Field(pattern=r"^\d{2}$")
    KDKAB: str = Field(pattern=r"^\d{2}$")
    KDKEC: str = Field(pattern=r"^\d{2}$")
    KDDESA: str = Field(pattern=r"^\d{4}$")
    Alamat: str | None = None
    Nama_KRT: str | None = None
    Jumlah_ART: int = Field(ge=0)
    Sta_kis: Literal[0, 1] = 0
    Sta_kip: Literal[0, 1] = 0
    Sta_pkh: Literal[0, 1] = 0
    Sta_bpnt: Literal[0, 1] = 0
    Percentile: int | None = Field(default=None, ge=0, le=100)
    Desil: int | None = Field(default=None, ge=1, le=10)


class DtksIndividual(BaseModel):
    model_config = ConfigDict(extra="allow")

    IDARTBDT: str = Field(min_length=1)
    IDBDT: str = Field(min_length=1)
    NIK: str | None = None
    NoKK: str | None = None
    Nama: str = Field(min_length=1)
    JnsKel: Literal[1, 2]
    TmpLahir: str | None = None
    TglLahir: str | None = None
    HubKRT: int = Field(ge=1, le=8)
    Ada_pbi: Literal[0, 1] = 0
    Ada_kip: Literal[0, 1] = 0
    Ada_pkh: Literal[0, 1] = 0
    Ada_bpnt: Literal[0, 1] = 0

    @field_validator("NIK", "NoKK", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        # Spreadsheets turn NIKs into numbers; keep whatever arrived as text.
        return None if value is None else str(value)

    @field_validator("TglLahir")
    @classmethod
    def _date(cls, value: str | None) -> str | None:
        parse_date(value)
        return value


class _DtksStream(Stream):
    kind: ClassVar[str]

    def __init__(self, connector: DtksConnector) -> None:
        self.connector = connector

    async def fetch(self, client: AgencyClient, cursor: str | None) -> Page:
        response = await client.request(
            "GET", f"/dtks/api/v1/{self.kind}",
            params={"since": cursor or "0", "limit": str(self.connector.page_size)},
            headers=self.connector.auth_headers, expect_json=True,
        )
        body = response.data
        return Page(body["data"], str(body["next_since"]), bool(body["has_more"]))


class DtksHouseholds(_DtksStream):
    name = "households"
    source = "dtks_household"
    model = DtksHousehold
    kind = "households"

    def key(self, raw: dict[str, Any]) -> str | None:
        return raw.get("IDBDT") or None

    def normalize(self, record: BaseModel) -> dict[str, Any]:
        assert isinstance(record, DtksHousehold)
        return {
            "household_key": record.IDBDT,
            "village_code": ".".join((record.KDPROP, record.KDKAB, record.KDKEC, record.KDDESA)),
            "address": record.Alamat,
            "head_name": record.Nama_KRT,
            "size": record.Jumlah_ART,
            "desil": record.Desil,
            "percentile": record.Percentile,
            "programs": {"PBI_JKN": record.Sta_kis, "KIP_PIP": record.Sta_kip,
                         "PKH": record.Sta_pkh, "BPNT": record.Sta_bpnt},
        }


class DtksIndividuals(_DtksStream):
    name = "individuals"
    source = "dtks_individual"
    model = DtksIndividual
    kind = "individuals"

    def key(self, raw: dict[str, Any]) -> str | None:
        return raw.get("IDARTBDT") or None

    def normalize(self, record: BaseModel) -> dict[str, Any]:
        assert isinstance(record, DtksIndividual)
        return identity(
            record.NIK, record.Nama, parse_date(record.TglLahir),
            "M" if record.JnsKel == 1 else "F",
            kk=record.NoKK, household_key=record.IDBDT, birth_place=record.TmpLahir,
            relation=RELATIONS[record.HubKRT],
            programs={"PBI_JKN": record.Ada_pbi, "KIP_PIP": record.Ada_kip,
                      "PKH": record.Ada_pkh, "BPNT": record.Ada_bpnt},
        )


class DtksConnector(Connector):
    name = "dtks"

    def __init__(self, base_url: str, api_key: str, *, page_size: int = 1000,
                 **kwargs: Any) -> None:
        super().__init__(base_url, **kwargs)
        self.api_key = api_key
        self.page_size = page_size
        self._streams = [DtksHouseholds(self), DtksIndividuals(self)]

    @property
    def streams(self) -> list[Stream]:
        return self._streams

    async def auth_headers(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key}
