"""DCI message signatures, both schemes, pure: what verifies, and each way one fails."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.crypto import signatures
from hub.crypto.jose import thumbprint
from hub.crypto.signatures import SignatureProblem, Signer

HEADER = {"message_id": "m1", "sender_id": "kemensos.example", "action": "search",
          "message_ts": "2026-11-23T08:00:00+07:00", "total_count": 1}
MESSAGE = {"transaction_id": "t1", "search_request": [{"reference_id": "r1"}]}


def _signer() -> Signer:
    key = Ed25519PrivateKey.generate()
    return Signer("kemensos.example", thumbprint(key.public_key()), key)


def _keys(signer: Signer):
    return lambda sender, kid: signer.key.public_key() \
        if (sender, kid) == (signer.sender_id, signer.kid) else None


@pytest.mark.parametrize("scheme", ["header", "jws"])
def test_a_signed_message_verifies_and_names_its_key(scheme: str) -> None:
    signer, now = _signer(), int(time.time())
    signature = signatures.sign(scheme, signer, HEADER, MESSAGE, now)
    assert signatures.verify(signature, HEADER, MESSAGE, "kemensos.example", _keys(signer),
                             now) == signer.kid
    # key order and spacing do not matter: the canonical form is signed
    reordered = dict(reversed(list(MESSAGE.items())))
    assert signatures.verify(signature, HEADER, reordered, "kemensos.example",
                             _keys(signer), now) == signer.kid


def test_the_header_form_is_the_specs_shape() -> None:
    signer = _signer()
    signature = signatures.sign("header", signer, HEADER, MESSAGE, 1_700_000_000)
    assert signature.startswith('Signature: namespace="dci", '
                                f'kidId="kemensos.example|{signer.kid}|ed25519"')
    assert 'created="1700000000", expires="1700000300"' in signature
    assert 'headers="(created) (expires) digest"' in signature


@pytest.mark.parametrize("scheme", ["header", "jws"])
def test_an_altered_message_or_another_key_fails(scheme: str) -> None:
    signer, other, now = _signer(), _signer(), int(time.time())
    signature = signatures.sign(scheme, signer, HEADER, MESSAGE, now)
    altered = {**MESSAGE, "transaction_id": "t2"}
    with pytest.raises(SignatureProblem, match="does not match") as failed:
        signatures.verify(signature, HEADER, altered, "kemensos.example", _keys(signer), now)
    assert failed.value.code == "err.signature.invalid"
    forged = signatures.sign(scheme, Signer(signer.sender_id, signer.kid, other.key),
                             HEADER, MESSAGE, now)
    with pytest.raises(SignatureProblem, match="does not match"):
        signatures.verify(forged, HEADER, MESSAGE, "kemensos.example", _keys(signer), now)
    with pytest.raises(SignatureProblem, match="no registered key"):
        signatures.verify(signature, HEADER, MESSAGE, "kemensos.example", _keys(other), now)


def test_header_form_checks_time_and_signer() -> None:
    signer = _signer()
    old = signatures.sign("header", signer, HEADER, MESSAGE, int(time.time()) - 3600)
    with pytest.raises(SignatureProblem, match="expired"):
        signatures.verify(old, HEADER, MESSAGE, "kemensos.example", _keys(signer),
                          int(time.time()))
    now = int(time.time())
    signature = signatures.sign("header", signer, HEADER, MESSAGE, now)
    with pytest.raises(SignatureProblem, match="the header's sender is 'other'"):
        signatures.verify(signature, HEADER, MESSAGE, "other", _keys(signer), now)


def test_missing_and_unrecognised_signatures() -> None:
    signer, now = _signer(), int(time.time())
    with pytest.raises(SignatureProblem) as missing:
        signatures.verify(None, HEADER, MESSAGE, "kemensos.example", _keys(signer), now)
    assert missing.value.code == "err.signature.missing"
    with pytest.raises(SignatureProblem, match="neither"):
        signatures.verify("hello", HEADER, MESSAGE, "kemensos.example", _keys(signer), now)
    with pytest.raises(SignatureProblem, match="not well formed"):
        signatures.verify("a.b.c", HEADER, MESSAGE, "kemensos.example", _keys(signer), now)


def test_an_attached_jws_payload_must_be_this_message() -> None:
    signer, now = _signer(), int(time.time())
    protected, _, value = signatures.sign("jws", signer, HEADER, MESSAGE, now).split(".")
    from hub.crypto.jose import b64url

    other = b64url(signatures.canonical(HEADER, {**MESSAGE, "transaction_id": "x"}))
    with pytest.raises(SignatureProblem, match="payload is not this message"):
        signatures.verify(f"{protected}.{other}.{value}", HEADER, MESSAGE,
                          "kemensos.example", _keys(signer), now)
    same = b64url(signatures.canonical(HEADER, MESSAGE))
    assert signatures.verify(f"{protected}.{same}.{value}", HEADER, MESSAGE,
                             "kemensos.example", _keys(signer), now) == signer.kid
