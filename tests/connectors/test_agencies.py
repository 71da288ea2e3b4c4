"""Contract tests per agency: every record exactly once across runs, auth failures
that name the connector, and each agency's own calls."""

import base64
import hashlib
import hmac
import json
import time

import pytest
from sqlalchemy import select

from hub.codecs import vclaim
from hub.connectors.baznas import BaznasConnector
from hub.connectors.bpjs import BpjsConnector
from hub.connectors.dukcapil import DukcapilConnector
from hub.connectors.education import EducationConnector
from hub.connectors.http import AuthError
from hub.connectors.runner import sync_connector
from hub.db.models import SourceRecord
from hub.simulators.base import Faults
from hub.simulators.baznas import BaznasSimulator
from hub.simulators.bpjs import BpjsSimulator
from hub.simulators.dukcapil import DukcapilSimulator
from hub.simulators.education import EducationSimulator
from tests.connectors.conftest import staged


def lines(population, source):
    path = population / "agencies" / f"{source}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line]


# -- Dukcapil ---------------------------------------------------------------------------

def dukcapil(url, password="rahasia"):
    return DukcapilConnector(url, "DINSOS5272", "dinsos", password, page_size=80)


async def test_dukcapil_feed_stages_every_resident_once(serve, staging, agency_population):
    residents = lines(agency_population, "dukcapil")
    simulator = DukcapilSimulator(agency_population)
    async with serve(simulator) as url:
        first = await sync_connector(staging, dukcapil(url))
        # A death registered after the first pull arrives as a change of that resident.
        dead = dict(residents[5], STATUS_HIDUP="MATI", TGL_KMT="01-10-2026")
        simulator.append("residents", dead)
        second = await sync_connector(staging, dukcapil(url))
    assert first[0].counts.new == len(residents)
    assert (second[0].counts.fetched, second[0].counts.changed) == (1, 1)
    stored = await staged(staging, "dukcapil")
    assert set(stored) == {r["NIK"] for r in residents}
    assert all(reason is None for _, reason in stored.values())


async def test_dukcapil_lookup_and_verify(serve, agency_population):
    resident = lines(agency_population, "dukcapil")[0]
    async with serve(DukcapilSimulator(agency_population)) as url:
        connector = dukcapil(url)
        async with connector.client() as client:
            found = await connector.lookup_nik(client, resident["NIK"])
            missing = await connector.lookup_nik(client, "5272010101010999")
            exact = await connector.verify(client, resident["NIK"],
                                           NAMA_LGKP=resident["NAMA_LGKP"],
                                           TGL_LHR=resident["TGL_LHR"])
            variant = await connector.verify(
                client, resident["NIK"], NAMA_LGKP=resident["NAMA_LGKP"].replace("I", "Y", 1)
            )
    assert found["NAMA_LGKP"] == resident["NAMA_LGKP"]
    assert missing is None
    assert exact == {"NIK": True, "NAMA_LGKP": True, "TGL_LHR": True}
    if "I" in resident["NAMA_LGKP"]:
        assert variant["NAMA_LGKP"] is False  # Dukcapil matches names exactly


async def test_dukcapil_wrong_password_is_an_auth_error(serve, staging, agency_population):
    async with serve(DukcapilSimulator(agency_population)) as url:
        results = await sync_connector(staging, dukcapil(url, password="salah"))
        connector = dukcapil(url, password="salah")
        async with connector.client() as client:
            with pytest.raises(AuthError, match="connector dukcapil"):
                await connector.lookup_nik(client, "5272010101010001")
    assert results[0].status == "FAILED"
    assert "AuthError: connector dukcapil" in results[0].error


# -- Baznas -----------------------------------------------------------------------------

async def test_baznas_mustahik_once_with_missing_niks_kept(serve, staging, agency_population):
    mustahik = lines(agency_population, "baznas")
    assert mustahik, "the district has zakat recipients"
    async with serve(BaznasSimulator(agency_population, api_key="k")) as url:
        await sync_connector(staging, BaznasConnector(url, "k", page_size=7))
        again = await sync_connector(staging, BaznasConnector(url, "k", page_size=7),
                                     full=True)
        refused = await sync_connector(staging, BaznasConnector(url, "wrong"))
    stored = await staged(staging, "baznas")
    assert set(stored) == {m["id_mustahik"] for m in mustahik}
    # A missing NIK is a data problem for matching, not a reason to refuse the record.
    assert all(reason is None for _, reason in stored.values())
    assert again[0].counts.unchanged == len(mustahik)
    assert refused[0].status == "FAILED"
    assert "connector baznas" in refused[0].error


# -- Education (Dapodik) ----------------------------------------------------------------

async def test_education_token_expiring_mid_sync_is_renewed(serve, staging, agency_population):
    pupils = lines(agency_population, "education")
    simulator = EducationSimulator(agency_population, Faults(token_ttl_requests=2))
    async with serve(simulator) as url:
        connector = EducationConnector(url, "dinsos", "rahasia", page_size=20)
        results = await sync_connector(staging, connector)
    assert results[0].status == "SUCCEEDED"
    pages = -(-len(pupils) // 20)
    assert pages >= 4
    # Each token serves two pages, then a 401 makes the connector fetch a new one.
    assert len(simulator.tokens) == -(-pages // 2)
    stored = await staged(staging, "education")
    assert set(stored) == {p["peserta_didik_id"] for p in pupils}
    async with staging.connect() as connection:
        districts = (await connection.execute(
            select(SourceRecord.normalized["school_district_code"].as_string())
            .where(SourceRecord.source == "education")
        )).scalars().all()
    # Dapodik's "23xxxx  " codes (NTB is 23 there) come out as Kemendagri's.
    assert districts
    assert all(d and d.startswith("52.72.") for d in districts)


async def test_education_refused_client_is_an_auth_error(serve, staging, agency_population):
    async with serve(EducationSimulator(agency_population)) as url:
        results = await sync_connector(staging, EducationConnector(url, "dinsos", "salah"))
    assert results[0].status == "FAILED"
    assert "AuthError: connector education" in results[0].error
    assert "invalid_client" in results[0].error


# -- BPJS Kesehatan (VClaim) ------------------------------------------------------------

def bpjs(url, secret="bpjs-secret"):
    return BpjsConnector(url, "1234", secret, "user-key", page_size=60)


async def test_bpjs_feed_decrypts_and_stages_every_member(serve, staging, agency_population):
    members = lines(agency_population, "bpjs")
    async with serve(BpjsSimulator(agency_population)) as url:
        results = await sync_connector(staging, bpjs(url))
    assert results[0].status == "SUCCEEDED"
    stored = await staged(staging, "bpjs")
    assert set(stored) == {m["noKartu"] for m in members}


async def test_bpjs_participant_lookup(serve, agency_population):
    member = lines(agency_population, "bpjs")[0]
    async with serve(BpjsSimulator(agency_population)) as url:
        connector = bpjs(url)
        async with connector.client() as client:
            found = await connector.participant(client, member["nik"])
            missing = await connector.participant(client, "5272010101010999")
    assert found == member
    assert missing is None


async def test_bpjs_refuses_bad_signature_and_stale_timestamp(serve, agency_population):
    async with serve(BpjsSimulator(agency_population)) as url:
        wrong = bpjs(url, secret="not-the-secret")
        async with wrong.client() as client:
            with pytest.raises(AuthError, match="Signature tidak valid"):
                await wrong.participant(client, "5272010101010001")
        stale = bpjs(url)
        stamp = str(int(time.time()) - 3600)
        async with stale.client() as client:
            response = await client.request(
                "GET", "/vclaim-rest/Peserta/feed/0/1",
                headers=lambda: _const(stale.signed_headers(stamp)), expect_json=True,
            )
    assert response.data["metaData"] == {"code": "401", "message": "Timestamp kedaluwarsa"}


async def _const(value):
    return value


def test_vclaim_crypto_round_trip_and_wrong_key():
    text = json.dumps({"peserta": {"nama": "SITI AMINAH", "nik": "5272015208850003"}})
    sealed = vclaim.encrypt(text, "1234", "secret", "1700000000")
    assert vclaim.decrypt(sealed, "1234", "secret", "1700000000") == text
    with pytest.raises(ValueError, match=r"cannot decrypt|not LZ-string"):
        vclaim.decrypt(sealed, "1234", "secret", "1700000001")
    # The signature is HMAC-SHA256 of "consid&timestamp", base64.
    expected = base64.b64encode(
        hmac.new(b"secret", b"1234&1700000000", hashlib.sha256).digest()
    ).decode()
    assert vclaim.signature("1234", "secret", "1700000000") == expected
