"""Education connector (Dapodik / PIP): pupils with their KIP/PIP status. OAuth2 client
credentials; a token that expires mid-sync is renewed once and the page retried."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hub.connectors.base import Connector, Page, Stream
from hub.connectors.http import AgencyClient
from hub.connectors.mapping import DateText, IdText, identity, parse_date
from hub.connectors.oauth import ClientCredentials
from hub.domain.crosswalk import kemendagri_district_from_education


class Pupil(BaseModel):
    model_config = ConfigDict(extra="allow")

    peserta_didik_id: str = Field(min_length=1)
    nisn: str = Field(pattern=r"^\d{10}$")
    nik: IdText = None
    nama: str = Field(min_length=1)
    tanggal_lahir: DateText
    nama_ibu: str | None = None
    tingkat_pendidikan_id: int = Field(ge=1, le=13)
    nama_rombel: str | None = None
    no_kk: IdText = None
    layak_pip: bool = False
    penerima_kip: bool = False
    no_kip: str | None = None
    kode_wilayah: str | None = None  # the school's region, education ministry format


class Pupils(Stream):
    name = "pupils"
    source = "education"
    model = Pupil

    def __init__(self, connector: EducationConnector) -> None:
        self.connector = connector

    def key(self, raw: dict[str, Any]) -> str | None:
        return raw.get("peserta_didik_id") or None

    def normalize(self, record: BaseModel) -> dict[str, Any]:
        assert isinstance(record, Pupil)
        district = (
            kemendagri_district_from_education(record.kode_wilayah)
            if record.kode_wilayah else None
        )
        return identity(
            record.nik, record.nama, parse_date(record.tanggal_lahir), None,
            nisn=record.nisn, school_district_code=district, kk=record.no_kk,
            mother_name=record.nama_ibu,
            grade=record.tingkat_pendidikan_id, eligible_pip=record.layak_pip,
            program="KIP_PIP" if record.penerima_kip else None, card_number=record.no_kip,
        )

    async def fetch(self, client: AgencyClient, cursor: str | None) -> Page:
        params = {"limit": str(self.connector.page_size)}
        if cursor:
            params["cursor"] = cursor
        response = await client.request(
            "GET", "/dapodik/api/getPesertaDidik", params=params,
            headers=lambda: self.connector.credentials.bearer(client),
            on_unauthorized=lambda: self.connector.credentials.renew(client),
            expect_json=True,
        )
        body = response.data
        return Page(body["rows"], body["next_cursor"], bool(body["has_more"]))


class EducationConnector(Connector):
    name = "education"

    def __init__(self, base_url: str, client_id: str, client_secret: str, *,
                 page_size: int = 500, **kwargs: Any) -> None:
        super().__init__(base_url, **kwargs)
        self.page_size = page_size
        self.credentials = ClientCredentials(self.name, "/oauth/token", client_id,
                                             client_secret)
        self._streams = [Pupils(self)]

    @property
    def streams(self) -> list[Stream]:
        return self._streams
