"""Dukcapil connector: the residents' change feed as a stream, and the on-demand NIK
look-up and verify-by-elements calls that matching and findings use."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hub.connectors.base import Connector, Page, Stream
from hub.connectors.http import AgencyClient, AuthError
from hub.connectors.mapping import DateText, OptionalDateText, identity, iso, parse_date

AUTH_FAILURES = ("User ID atau password salah", "User tidak valid", "Akses ditolak")


class Resident(BaseModel):
    model_config = ConfigDict(extra="allow")

    NIK: str = Field(min_length=1)
    NO_KK: str | None = None
    NAMA_LGKP: str = Field(min_length=1)
    TMPT_LHR: str | None = None
    TGL_LHR: DateText
    JENIS_KLMIN: str = Field(pattern=r"^(LAKI-LAKI|PEREMPUAN)$")
    STAT_HBKEL: str | None = None
    ALAMAT: str | None = None
    NO_PROP: int
    NO_KAB: int
    NO_KEC: int
    NO_KEL: int
    NAMA_LGKP_IBU: str | None = None
    STATUS_HIDUP: str = "HIDUP"
    TGL_KMT: OptionalDateText = None


def _raise_on_refusal(connector: str, content: list[dict[str, Any]]) -> None:
    if content and content[0].get("RESPON") in AUTH_FAILURES:
        raise AuthError(connector, f"Dukcapil refused the credentials: {content[0]['RESPON']}")


class Residents(Stream):
    name = "residents"
    source = "dukcapil"
    model = Resident

    def __init__(self, connector: DukcapilConnector) -> None:
        self.connector = connector

    def key(self, raw: dict[str, Any]) -> str | None:
        return raw.get("NIK") or None

    def normalize(self, record: BaseModel) -> dict[str, Any]:
        assert isinstance(record, Resident)
        r = record
        village = f"{r.NO_PROP:02d}.{r.NO_KAB:02d}.{r.NO_KEC:02d}.{r.NO_KEL:04d}"
        return identity(
            record.NIK, record.NAMA_LGKP, parse_date(record.TGL_LHR),
            "M" if record.JENIS_KLMIN == "LAKI-LAKI" else "F",
            kk=record.NO_KK, birth_place=record.TMPT_LHR, relation=record.STAT_HBKEL,
            address=record.ALAMAT, village_code=village, mother_name=record.NAMA_LGKP_IBU,
            alive=record.STATUS_HIDUP != "MATI",
            death_date=iso(parse_date(record.TGL_KMT)),
        )

    async def fetch(self, client: AgencyClient, cursor: str | None) -> Page:
        body = await self.connector.call(
            client, "CALL_FEED", since=int(cursor or 0), limit=self.connector.page_size
        )
        _raise_on_refusal(self.connector.name, body["content"])
        return Page(body["content"], str(body["next_since"]), bool(body["has_more"]))


class DukcapilConnector(Connector):
    name = "dukcapil"

    def __init__(self, base_url: str, lembaga: str, user_id: str, password: str, *,
                 ip_user: str = "127.0.0.1", page_size: int = 1000, **kwargs: Any) -> None:
        super().__init__(base_url, **kwargs)
        self.lembaga, self.user_id, self.password = lembaga, user_id, password
        self.ip_user = ip_user
        self.page_size = page_size
        self._streams = [Residents(self)]

    @property
    def streams(self) -> list[Stream]:
        return self._streams

    async def call(self, client: AgencyClient, call: str, **fields: Any) -> dict[str, Any]:
        body = {"user_id": self.user_id, "password": self.password, "ip_user": self.ip_user,
                **fields}
        response = await client.request(
            "POST", f"/dukcapil/get_json/{self.lembaga}/{call}", json=body, expect_json=True
        )
        return response.data

    async def lookup_nik(self, client: AgencyClient, nik: str) -> dict[str, Any] | None:
        """The resident with this NIK, or None when Dukcapil does not know it."""
        content = (await self.call(client, "CALL_NIK", NIK=nik))["content"]
        _raise_on_refusal(self.name, content)
        return None if "RESPON" in content[0] else content[0]

    async def verify(self, client: AgencyClient, nik: str, **elements: str) -> dict[str, bool]:
        """Element by element, whether Dukcapil agrees ("Sesuai")."""
        content = (await self.call(client, "CALL_VERIFY", NIK=nik, **elements))["content"]
        _raise_on_refusal(self.name, content)
        return {k: v == "Sesuai" for k, v in content[0].items() if k != "RESPON"}
