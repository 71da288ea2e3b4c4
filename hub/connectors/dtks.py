"""DTKS connector: households and individuals from the SIKS-NG bulk export (CSV or
XLSX, legacy BPS region codes mapped through the crosswalk) and from the incremental
usulan API. Both stage into the same sources under the same keys, so a record read
from both is stored once."""

from __future__ import annotations

import contextlib
import csv
import shutil
import tempfile
import weakref
from collections.abc import Generator
from pathlib import Path
from typing import Any, ClassVar, Literal

from openpyxl import load_workbook
from pydantic import BaseModel, ConfigDict, Field, model_validator

from hub.connectors.base import Page, Stream
from hub.connectors.http import AgencyClient, BadResponse
from hub.connectors.mapping import IdText, OptionalDateText, identity, parse_date
from hub.connectors.rest import ApiKey, CursorFromBody, RestConnector, RestStream
from hub.domain.crosswalk import UnmappedRegionCode, kemendagri_village

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
    NIK: IdText = None
    NoKK: IdText = None
    Nama: str = Field(min_length=1)
    JnsKel: Literal[1, 2]
    TmpLahir: str | None = None
    TglLahir: OptionalDateText = None
    HubKRT: int = Field(ge=1, le=8)
    Ada_pbi: Literal[0, 1] = 0
    Ada_kip: Literal[0, 1] = 0
    Ada_pkh: Literal[0, 1] = 0
    Ada_bpnt: Literal[0, 1] = 0


def household_fields(record: DtksHousehold, village_code: str) -> dict[str, Any]:
    return {
        "household_key": record.IDBDT,
        "village_code": village_code,
        "address": record.Alamat,
        "head_name": record.Nama_KRT,
        "size": record.Jumlah_ART,
        "desil": record.Desil,
        "percentile": record.Percentile,
        "programs": {"PBI_JKN": record.Sta_kis, "KIP_PIP": record.Sta_kip,
                     "PKH": record.Sta_pkh, "BPNT": record.Sta_bpnt},
    }


def individual_fields(record: DtksIndividual) -> dict[str, Any]:
    return identity(
        record.NIK, record.Nama, parse_date(record.TglLahir),
        "M" if record.JnsKel == 1 else "F",
        kk=record.NoKK, household_key=record.IDBDT, birth_place=record.TmpLahir,
        relation=RELATIONS[record.HubKRT],
        programs={"PBI_JKN": record.Ada_pbi, "KIP_PIP": record.Ada_kip,
                  "PKH": record.Ada_pkh, "BPNT": record.Ada_bpnt},
    )


class _DtksStream(RestStream):
    """The usulan API: what changed since a sequence number."""

    records_path = ("data",)
    paginator = CursorFromBody("since", "limit", next_path=("next_since",),
                               more_path=("has_more",))


class _HouseholdRows:
    """What both channels' household streams share: the source and the agency's key."""

    source = "dtks_household"
    kind = "households"

    def key(self, raw: dict[str, Any]) -> str | None:
        return raw.get("IDBDT") or None


class _IndividualRows:
    source = "dtks_individual"
    kind = "individuals"

    def key(self, raw: dict[str, Any]) -> str | None:
        return raw.get("IDARTBDT") or None

    def normalize(self, record: BaseModel) -> dict[str, Any]:
        assert isinstance(record, DtksIndividual)
        return individual_fields(record)


class DtksHouseholds(_HouseholdRows, _DtksStream):
    name = "households"
    model = DtksHousehold
    path = "/dtks/api/v1/households"

    def normalize(self, record: BaseModel) -> dict[str, Any]:
        assert isinstance(record, DtksHousehold)
        village = ".".join((record.KDPROP, record.KDKAB, record.KDKEC, record.KDDESA))
        return household_fields(record, village)


class DtksIndividuals(_IndividualRows, _DtksStream):
    name = "individuals"
    model = DtksIndividual
    path = "/dtks/api/v1/individuals"


# -- bulk export ------------------------------------------------------------------------

INT_COLUMNS = frozenset({
    "Jumlah_ART", "Jumlah_Keluarga", "Sta_kis", "Sta_kip", "Sta_pkh", "Sta_bpnt",
    "Percentile", "Desil", "JnsKel", "HubKRT", "Umur", "Ada_pbi", "Ada_kip", "Ada_pkh",
    "Ada_bpnt",
})


def _typed(raw: Any) -> Any:
    """Spreadsheet cells are text (CSV) or numbers (XLSX); integer columns become ints
    where they hold an integer, anything else is left for the schema to judge."""
    if not isinstance(raw, dict):
        return raw
    out = dict(raw)
    for column in INT_COLUMNS & out.keys():
        value = out[column]
        whole_text = isinstance(value, str) and value.strip().lstrip("-").isdigit()
        whole_float = isinstance(value, float) and value.is_integer()
        if whole_text or whole_float:
            out[column] = int(value)
        elif value == "":
            out[column] = None
    return out


class ExportHousehold(DtksHousehold):
    KDKEC: str = Field(pattern=r"^\d{3}$")   # BPS kecamatan
    KDDESA: str = Field(pattern=r"^\d{3}$")  # BPS desa

    _ints = model_validator(mode="before")(_typed)


class ExportIndividual(DtksIndividual):
    _ints = model_validator(mode="before")(_typed)


class _ExportStream(Stream):
    """Pages through the current export. The cursor is "version:row"; a new export
    version starts again from row 0 (unchanged rows then cost nothing: staging skips
    them by hash). The downloaded file is deleted as soon as it has been read, or
    replaced by a newer version: an export lists every registered person's NIK and
    name, and a copy nobody reads is a copy nobody protects."""

    kind: ClassVar[str]

    def __init__(self, connector: DtksConnector) -> None:
        self.connector = connector
        self._file: tuple[str, Path] | None = None
        self._rows: tuple[str, int, Generator[dict[str, Any], None, None]] | None = None

    async def fetch(self, client: AgencyClient, cursor: str | None) -> Page:
        version, _, offset_text = (cursor or "").partition(":")
        offset = int(offset_text or 0)
        manifest = (await client.request(
            "GET", "/dtks/export/manifest", headers=self.connector.auth_headers,
            expect_json=True,
        )).data
        current = str(manifest["version"])
        if current != version:
            offset = 0
        total = int(manifest["rows"][self.kind])
        if offset >= total:
            self.discard()
            return Page([], f"{current}:{offset}", False)
        rows = await self._rows_from(client, current, offset)
        page = [row for _, row in zip(range(self.connector.page_size), rows, strict=False)]
        end = offset + len(page)
        if end < total and len(page) < self.connector.page_size:
            self.discard()
            raise BadResponse(self.connector.name, f"the {self.kind} export of version "
                              f"{current} ends after {end} rows; its manifest says {total}")
        if end < total:
            self._rows = (current, end, rows)
        else:
            self.discard()
        return Page(page, f"{current}:{end}", end < total)

    def discard(self) -> None:
        """Close the rows being read and delete the downloaded file."""
        self._close_rows()
        if self._file is not None:
            self._file[1].unlink(missing_ok=True)
            self._file = None

    def _close_rows(self) -> None:
        if self._rows is not None:
            self._rows[2].close()
            self._rows = None

    async def _rows_from(self, client: AgencyClient, version: str, offset: int
                         ) -> Generator[dict[str, Any], None, None]:
        if self._rows and self._rows[0] == version and self._rows[1] == offset:
            return self._rows[2]
        self._close_rows()
        path = await self._download(client, version)
        rows = _read_rows(path, self.connector.export_format)
        for _ in range(offset):
            next(rows, None)
        return rows

    async def _download(self, client: AgencyClient, version: str) -> Path:
        if self._file and self._file[0] == version:
            return self._file[1]
        self.discard()  # an older version's file
        fmt = self.connector.export_format
        response = await client.request(
            "GET", f"/dtks/export/{self.kind}.{fmt}", headers=self.connector.auth_headers
        )
        if response.headers.get("X-Export-Version", version) != version:
            raise BadResponse(self.connector.name, "the export changed while being read")
        path = self.connector.workdir() / f"{self.kind}-{version}.{fmt}"
        path.write_bytes(response.body)
        self._file = (version, path)
        return path


def _read_rows(path: Path, fmt: str) -> Generator[dict[str, Any], None, None]:
    if fmt == "csv":
        with path.open(encoding="utf-8", newline="") as handle:
            yield from csv.DictReader(handle)
        return
    book = load_workbook(path, read_only=True)
    try:
        rows = book.worksheets[0].iter_rows(values_only=True)
        header = [str(c) for c in next(rows, ())]
        for values in rows:
            yield dict(zip(header, values, strict=False))
    finally:
        book.close()


class ExportHouseholds(_HouseholdRows, _ExportStream):
    name = "export_households"
    model = ExportHousehold

    def comparable(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Compared in Kemendagri codes, as the usulan API sends them."""
        text = super().comparable(raw)
        bps = f"{text.get('KDPROP')}{text.get('KDKAB')}{text.get('KDKEC')}{text.get('KDDESA')}"
        with contextlib.suppress(UnmappedRegionCode):
            _, _, district, village = kemendagri_village(bps).split(".")
            text.update(KDKEC=district, KDDESA=village)
        return text

    def normalize(self, record: BaseModel) -> dict[str, Any]:
        assert isinstance(record, ExportHousehold)
        bps = f"{record.KDPROP}{record.KDKAB}{record.KDKEC}{record.KDDESA}"
        return household_fields(record, kemendagri_village(bps))


class ExportIndividuals(_IndividualRows, _ExportStream):
    name = "export_individuals"
    model = ExportIndividual


class DtksConnector(RestConnector):
    """SIKS-NG's DTKS: the bulk export first (the initial load), then the usulan API
    (what changed since), with an API key."""

    name = "dtks"
    stream_types = (ExportHouseholds, ExportIndividuals, DtksHouseholds, DtksIndividuals)
    credentials = ("api_key",)

    def __init__(self, base_url: str, api_key: str, *, page_size: int = 1000,
                 export_format: Literal["csv", "xlsx"] = "csv", **kwargs: Any) -> None:
        self.export_format = export_format
        self._workdir: Path | None = None
        super().__init__(base_url, ApiKey(api_key, header="X-API-Key"), page_size=page_size,
                         **kwargs)

    def workdir(self) -> Path:
        """A private directory for the export's downloads, made on the first one and
        removed with the connector (or when the process exits), so that neither a
        connector built only to check the configuration nor a run that stopped half-way
        leaves a copy of the registry behind."""
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="slrt-dtks-export-"))
            weakref.finalize(self, shutil.rmtree, self._workdir, ignore_errors=True)
        return self._workdir

    async def auth_headers(self) -> dict[str, str]:
        """The export's downloads are plain requests with the same key."""
        return {"X-API-Key": self.authenticator.key}
