"""The referral letter (surat rujukan): a one-page PDF the citizen carries to the agency,
with the case, the service, the agency and a verification code the agency's desk can
check at /rujukan/verify/<code> without access to the hub's data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fpdf import FPDF
from fpdf.enums import XPos, YPos


@dataclass(frozen=True)
class LetterContent:
    ticket: str
    issued_at: datetime
    agency: str
    service: str
    service_name: str
    citizen_name: str | None
    citizen_nik: str | None
    region_code: str
    category: str
    urgency: str
    description: str
    verification_code: str
    due_at: datetime | None


MONTHS = ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus",
          "September", "Oktober", "November", "Desember")


def _date(moment: datetime) -> str:
    """23 Agustus 2026 14:05 UTC: the letter is Indonesian, so are its months."""
    return f"{moment.day} {MONTHS[moment.month - 1]} {moment.year} {moment:%H:%M} UTC"


def _latin(text: str) -> str:
    """The PDF core fonts speak Latin-1; anything else becomes '?' rather than failing."""
    return text.encode("latin-1", "replace").decode("latin-1")


def render(letter: LetterContent) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_title(f"Surat Rujukan {letter.ticket}")
    pdf.set_creator("SLRT Hub")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 15)
    pdf.cell(0, 9, "SURAT RUJUKAN", align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "", 10)
    pdf.cell(0, 6, "Sistem Layanan dan Rujukan Terpadu (SLRT) - referral letter",
             align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(6)
    rows = [
        ("Nomor tiket / ticket", letter.ticket),
        ("Tanggal / issued", _date(letter.issued_at)),
        ("Kepada / to", letter.agency.upper()),
        ("Layanan / service", f"{letter.service_name} ({letter.service})"),
        ("Nama / name", letter.citizen_name or "-"),
        ("NIK", letter.citizen_nik or "-"),
        ("Wilayah / region", letter.region_code),
        ("Kategori / category", letter.category),
        ("Urgensi / urgency", letter.urgency),
        ("Batas waktu / due", _date(letter.due_at) if letter.due_at else "-"),
    ]
    for label, value in rows:
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(55, 7, _latin(label))
        pdf.set_font("Helvetica", "", 10)
        pdf.cell(0, 7, _latin(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(0, 7, "Keterangan / case", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "", 10)
    pdf.multi_cell(0, 6, _latin(letter.description[:1500]))
    pdf.ln(6)
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(0, 8, f"Kode verifikasi / verification code: {letter.verification_code}",
             new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "", 9)
    pdf.multi_cell(0, 5, "The receiving agency can confirm this letter at "
                   f"/rujukan/verify/{letter.verification_code} on the district's SLRT Hub.")
    return bytes(pdf.output())
