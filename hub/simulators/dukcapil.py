"""Dukcapil (civil registry): the NIK web service as agencies call it.

`POST /dukcapil/get_json/{lembaga}/CALL_NIK` with `{NIK, user_id, password, ip_user}`
answers `content[]` with the resident, or a `RESPON` such as "Data Tidak Ditemukan";
`CALL_VERIFY` answers "Sesuai" / "Tidak Sesuai" per element, matching names exactly as
the real service does (so nicknames and spelling variants fail); `CALL_FEED` is the
change feed of registrations, births, deaths and moves after a sequence number.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from hub.simulators.base import AgencySimulator, Faults
from hub.simulators.sequence_api import page_after

NOT_FOUND = "Data Tidak Ditemukan"
BAD_USER = "User ID atau password salah"


class DukcapilSimulator(AgencySimulator):
    name = "dukcapil"

    def __init__(self, population: Path, faults: Faults | None = None,
                 user_id: str = "dinsos", password: str = "rahasia") -> None:
        super().__init__(population, faults)
        self.credentials = (user_id, password)
        self.residents = self.feed("dukcapil")
        # NIK → latest sequence of that resident: the look-up index.
        self.by_nik: dict[str, int] = {r["NIK"]: seq for seq, r in self.residents.records()}

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/dukcapil/get_json/{lembaga}/{call}", self.call)]

    async def call(self, request: web.Request) -> web.Response:
        body = await request.json()
        if (body.get("user_id"), body.get("password")) != self.credentials:
            return _content([{"RESPON": BAD_USER}])
        call = request.match_info["call"]
        if call == "CALL_NIK":
            resident = self._resident(body.get("NIK"))
            return _content([resident] if resident else [{"RESPON": NOT_FOUND}])
        if call == "CALL_VERIFY":
            return _content([self._verify(body)])
        if call == "CALL_FEED":
            try:
                after, size = int(body.get("since", 0)), int(body.get("limit", 500))
            except (TypeError, ValueError):
                raise web.HTTPBadRequest(text="since and limit must be integers") from None
            records, last, more = page_after(self, self.residents, after, size)
            return web.json_response({"content": records, "next_since": last,
                                      "has_more": more})
        raise web.HTTPNotFound(text=f"unknown call {call}")

    def _resident(self, nik: Any) -> dict[str, Any] | None:
        sequence = self.by_nik.get(str(nik))
        if sequence is None:
            return None
        return self.residents.after(sequence - 1, 1)[0][1]

    def _verify(self, elements: dict[str, Any]) -> dict[str, str]:
        resident = self._resident(elements.get("NIK"))
        if resident is None:
            return {"RESPON": NOT_FOUND}
        verdict = {"NIK": "Sesuai"}
        for field in ("NAMA_LGKP", "TGL_LHR", "TMPT_LHR", "JENIS_KLMIN", "NO_KK"):
            if field in elements:
                same = str(elements[field]).strip().upper() == str(resident.get(field)).upper()
                verdict[field] = "Sesuai" if same else "Tidak Sesuai"
        return verdict

    def append(self, source: str, record: dict[str, Any]) -> int:
        if source != "residents":
            raise KeyError(source)
        sequence = self.residents.append(record)
        self.by_nik[record["NIK"]] = sequence
        return sequence

    def break_record(self, record: dict[str, Any]) -> dict[str, Any]:
        return {**record, "TGL_LHR": "31-02-1970"}


def _content(items: list[dict[str, Any]]) -> web.Response:
    return web.json_response({"content": items, "lastPage": True,
                              "numberOfElements": len(items)})
