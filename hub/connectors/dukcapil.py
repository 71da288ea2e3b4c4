"""Dukcapil connector: the residents' change feed as a stream, and the on-demand NIK
look-up and verify-by-elements calls that matching and findings use."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hub.connectors.http import AgencyClient, AuthError
from hub.connectors.mapping import DateText, OptionalDateText, identity, iso, parse_date
from hub.connectors.rest import BodyCredentials, CursorFromBody, RestConnector, RestStream

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


class Residents(RestStream):
    """The residents' change feed: `CALL_FEED` with the credentials in the body."""

    name = "residents"
    source = "dukcapil"
    model = Resident
    method = "POST"
    path = "/dukcapil/get_json/{lembaga}/CALL_FEED"
    records_path = ("content",)
    paginator = CursorFromBody("since", "limit", next_path=("next_since",),
                               more_path=("has_more",), numeric=True)

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

    def check(self, body: Any, records: list[Any]) -> None:
        _raise_on_refusal(self.connector.name, records)


class DukcapilConnector(RestConnector):
    """The civil registry's web service: a change feed, and on-demand NIK look-up and
    verification by elements."""

    name = "dukcapil"
    stream_types = (Residents,)
    credentials = ("lembaga", "user_id", "password")

    def __init__(self, base_url: str, lembaga: str, user_id: str, password: str, *,
                 ip_user: str = "127.0.0.1", page_size: int = 1000, **kwargs: Any) -> None:
        super().__init__(base_url, BodyCredentials({
            "user_id": user_id, "password": password, "ip_user": ip_user}),
            page_size=page_size, path_params={"lembaga": lembaga}, **kwargs)
        self.lembaga = lembaga

    async def call(self, client: AgencyClient, call: str, **fields: Any) -> dict[str, Any]:
        response = await client.request(
            "POST", f"/dukcapil/get_json/{self.lembaga}/{call}",
            json={**self.authenticator.body(), **fields}, expect_json=True)
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
