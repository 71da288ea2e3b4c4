"""Education connector (Dapodik / PIP): pupils with their KIP/PIP status. OAuth2 client
credentials; a token that expires mid-sync is renewed once and the page retried."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hub.connectors.mapping import DateText, IdText, identity, parse_date
from hub.connectors.rest import CursorFromBody, OAuth2ClientCredentials, RestConnector, RestStream
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


class Pupils(RestStream):
    name = "pupils"
    source = "education"
    model = Pupil
    path = "/dapodik/api/getPesertaDidik"
    records_path = ("rows",)
    paginator = CursorFromBody("cursor", "limit", next_path=("next_cursor",),
                               more_path=("has_more",), start=None)

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


class EducationConnector(RestConnector):
    """Dapodik's pupils, with OAuth2 client credentials."""

    name = "education"
    stream_types = (Pupils,)
    credentials = ("client_id", "client_secret")

    def __init__(self, base_url: str, client_id: str, client_secret: str,
                 **kwargs: Any) -> None:
        super().__init__(base_url, OAuth2ClientCredentials(
            self.name, "/oauth/token", client_id, client_secret), **kwargs)
