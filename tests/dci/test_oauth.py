"""OAuth2 client credentials (DCI authz) and the hub's JWK set (DCI jwks): a client
trades its API key for a signed token, which then opens the same doors its key does,
no more, and stops working when it expires, is tampered with or its client is revoked."""

from __future__ import annotations

import json
import time

from hub.access.clients import ClientStore
from hub.access.keystore import KeyStore
from hub.access.roles import Role
from hub.crypto import jose
from tests.access.conftest import Hub
from tests.dci.spec import problems
from tests.schema.helpers import GraphQLClient, register

TOKEN = "/dci/oauth2/client/token"
FORM = {"content-type": "application/x-www-form-urlencoded"}


async def _token(hub: Hub, name: str, key: str, grant: str = "client_credentials"):
    anonymous = GraphQLClient(hub.app)
    hub.clients.append(anonymous)
    body = f"grant_type={grant}&client_id={name}&client_secret={key}"
    return await anonymous.http.post(TOKEN, content=body, headers=FORM)


async def test_a_client_trades_its_key_for_a_token_that_acts_as_it(hub: Hub) -> None:
    name, key = await register(hub.engine, Role.DISTRICT, ("33.14.05",))
    response = await _token(hub, name, key)
    assert response.status_code == 200, response.text
    body = response.json()
    assert problems("authz_core", "OAuth2ClientTokenResponse", body) == []
    assert body["token_type"] == "Bearer"
    assert response.headers["cache-control"] == "no-store"
    holder = GraphQLClient(hub.app, body["access_token"])
    hub.clients.append(holder)
    data = await holder.data("{ regencies { code } }")
    assert data == {"regencies": [{"code": "33.14"}]}  # the district's scope, as its key
    claims = json.loads(jose.unb64url(body["access_token"].split(".")[1]))
    assert claims["sub"] == name
    assert claims["exp"] - claims["iat"] == int(body["expires_in"])

    keys = (await holder.http.get("/.well-known/jwks.json")).json()
    assert problems("jwks_core", "JWKSResponse", keys) == []
    header = json.loads(jose.unb64url(body["access_token"].split(".")[0]))
    published = {k["kid"]: k for k in keys["keys"]}
    assert header["kid"] in published
    # Anyone can verify the token with the published key alone.
    public = jose.public_from_jwk(published[header["kid"]])
    assert jose.verify(body["access_token"], {header["kid"]: public},
                         hub.settings.access.token_issuer,
                         hub.settings.access.token_audience)["sub"] == name


async def test_bad_requests_get_oauth2_errors(hub: Hub) -> None:
    name, key = await register(hub.engine, Role.NATIONAL)
    wrong = await _token(hub, name, key[:-2] + "xx")
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    other, _ = await register(hub.engine, Role.NATIONAL)
    assert (await _token(hub, other, key)).json()["error"] == "invalid_client"
    grant = await _token(hub, name, key, grant="password")
    assert grant.status_code == 400
    assert grant.json()["error"] == "unsupported_grant_type"
    anonymous = GraphQLClient(hub.app)
    hub.clients.append(anonymous)
    missing = await anonymous.http.post(TOKEN, content="grant_type=client_credentials",
                                        headers=FORM)
    assert missing.json()["error"] == "invalid_request"


async def test_expired_forged_and_revoked_tokens_are_refused(hub: Hub) -> None:
    name, key = await register(hub.engine, Role.NATIONAL)
    issued = (await _token(hub, name, key)).json()["access_token"]
    signing = await KeyStore(hub.engine).current()
    claims = json.loads(jose.unb64url(issued.split(".")[1]))
    expired = jose.sign(signing, {**claims, "exp": int(time.time()) - 3600})
    forged = jose.sign(jose.SigningKey.generate(), claims)
    other_issuer = jose.sign(signing, {**claims, "iss": "someone-else"})
    head, body, signature = issued.split(".")
    widened = json.loads(jose.unb64url(body)) | {"role": "NATIONAL", "cid": 1}
    tampered = f"{head}.{jose.b64url(json.dumps(widened).encode())}.{signature}"
    now = int(time.time())
    future_nbf = jose.sign(signing, {**claims, "nbf": now + 3600})
    future_iat = jose.sign(signing, {**claims, "iat": now + 3600})
    other_audience = jose.sign(signing, {**claims, "aud": "another-api"})
    no_audience = jose.sign(signing, {k: v for k, v in claims.items() if k != "aud"})
    text_cid = jose.sign(signing, {**claims, "cid": "x"})
    huge_cid = jose.sign(signing, {**claims, "cid": 10**30})
    for token, reason in ((expired, "expired"), (forged, "does not know"),
                          (other_issuer, "not issued by this hub"),
                          (tampered, "does not verify"), ("a.b.c", "not a JWT"),
                          (future_nbf, "not valid yet"), (future_iat, "not valid yet"),
                          (other_audience, "not meant for this API"),
                          (no_audience, "lacks the 'aud' claim"),
                          (text_cid, "does not name a client"),
                          (huge_cid, "revoked")):
        client = GraphQLClient(hub.app, token)
        hub.clients.append(client)
        response = await client.post("{ __typename }")
        assert response.status_code == 401, token
        assert reason in response.json()["errors"][0]["message"]
    await ClientStore(hub.engine).revoke(name)
    hub.app.state.clients._cache.clear()
    revoked = GraphQLClient(hub.app, issued)
    hub.clients.append(revoked)
    response = await revoked.post("{ __typename }")
    assert response.status_code == 401
    assert "revoked" in response.json()["errors"][0]["message"]


async def test_rotating_a_key_ends_the_tokens_traded_for_it(hub: Hub) -> None:
    name, key = await register(hub.engine, Role.NATIONAL)
    issued = (await _token(hub, name, key)).json()["access_token"]
    holder = GraphQLClient(hub.app, issued)
    hub.clients.append(holder)
    assert (await holder.post("{ __typename }")).status_code == 200
    new_key = await ClientStore(hub.engine).rotate(name)
    hub.app.state.clients._cache.clear()  # another replica's cache lapses within 5 s
    refused = await holder.post("{ __typename }")
    assert refused.status_code == 401
    assert "rotated" in refused.json()["errors"][0]["message"]
    fresh = GraphQLClient(hub.app, (await _token(hub, name, new_key)).json()["access_token"])
    hub.clients.append(fresh)
    assert (await fresh.post("{ __typename }")).status_code == 200
