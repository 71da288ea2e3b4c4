"""`POST /dci/oauth2/client/token` (DCI authz, RFC 6749 section 4.4): a registered API
client trades its client id (its name) and secret (its API key) for a short-lived
bearer token, signed with the hub's Ed25519 key (published at /.well-known/jwks.json)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hub import jsontext
from hub.access.authn import AuthenticationFailed, Authenticator

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _error(status: int, error: str, description: str) -> Response:
    """RFC 6749 section 5.2 error body."""
    headers = dict(NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="slrt-hub"'
    return JSONResponse({"error": error, "error_description": description},
                        status_code=status, headers=headers)


async def _form(request: Request) -> dict[str, str]:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "application/json":
        body = jsontext.loads(await request.body() or b"{}")
        return {k: str(v) for k, v in body.items()} if isinstance(body, dict) else {}
    # RFC 6749 uses urlencoded forms only: parsed here, without a multipart library.
    return dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))


async def token_endpoint(request: Request, authenticator: Authenticator,
                         ttl: int) -> Response:
    try:
        form = await _form(request)
    except (ValueError, UnicodeDecodeError):
        return _error(400, "invalid_request", "send application/x-www-form-urlencoded "
                      "(or JSON) with grant_type, client_id and client_secret")
    if form.get("grant_type") != "client_credentials":
        return _error(400, "unsupported_grant_type", "grant_type must be client_credentials")
    client_id, secret = form.get("client_id"), form.get("client_secret")
    if not client_id or not secret:
        return _error(400, "invalid_request", "client_id and client_secret are required")
    try:
        token, expires = await authenticator.issue(client_id, secret, ttl)
    except AuthenticationFailed:
        return _error(401, "invalid_client", "unknown client, or a wrong or revoked secret")
    # expires_in is a string in the DCI authz schema.
    return JSONResponse({"access_token": token, "token_type": "Bearer",
                         "expires_in": str(expires)}, headers=NO_STORE)
