"""``GET /token`` and ``POST /token`` (SPEC §1; Distribution token and OAuth2 flows).

GET carries HTTP Basic (or nothing) and repeated ``scope`` parameters; POST
is a form with ``grant_type=password`` or ``grant_type=refresh_token`` and one
space-separated ``scope`` (containerd/BuildKit try it first and fall back to
GET on 400/401/404, so those are the statuses for client mistakes).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from regauth.domain.credentials import (
    ApiKeyCredential,
    BasicCredential,
    BearerCredential,
    CertificateCredential,
    Credential,
    RefreshCredential,
)
from regauth.domain.scope import parse_scopes
from regauth.errors import (
    DpopInvalid,
    MalformedCredential,
    MissingCredential,
    PayloadTooLarge,
    RequestError,
    UnsupportedGrant,
)
from regauth.service import IssuedToken, TokenRequest
from regauth.web.raw import RawHeaders, query_pairs
from regauth.web.state import AppState, HeaderLookup

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]

MAX_FORM_BYTES = 16 * 1024


async def token_endpoint(request: Request) -> Response:
    """``/token`` in the router: one route, so a wrong method gets ``Allow: GET, HEAD, POST``."""
    scope = request.scope
    body = await token_body(
        request.app.state.regauth, scope, RawHeaders(scope["headers"]), request.receive
    )
    return Response(body, 200, {"Cache-Control": "no-store"}, "application/json")


# The headers of every 200 answer, as Starlette's Response above renders them (same
# order); the served application sends them from here without building a Response.
OK_HEADERS = ((b"cache-control", b"no-store"),)
OK_TYPE = (b"content-type", b"application/json")


async def token_body(state: AppState, scope: Scope, headers: RawHeaders, receive: Receive) -> bytes:
    """The JSON body of a 200 answer to ``GET`` or ``POST /token``; else a ProblemError.

    Everything is read from the ASGI ``scope`` (``headers`` parsed from it once)
    and, for a POST, the body from ``receive``.
    """
    if scope["method"] == "POST":
        credential, token_request = await _post_request(state, scope, headers, receive)
    else:
        credential, token_request = _get_request(state, scope, headers)
    try:
        issued = await state.runtime.service.issue(credential, token_request)
    finally:
        # The decision's audit record is in the spool before the answer leaves.
        await state.runtime.audit.durable()
    state.metrics.issued.inc()
    return _body(issued)


def _get_request(
    state: AppState, scope: Scope, headers: RawHeaders
) -> tuple[Credential | None, TokenRequest]:
    # What Starlette's QueryParams does (latin-1, blank values kept; ``get`` is the last
    # value of a repeated name), without building its multi-dict.
    query: bytes = scope.get("query_string", b"")
    pairs = query_pairs(query.decode("latin-1")) if query else []
    params = dict(pairs)
    credential = scope_credential(state, headers.get("authorization"), scope, headers)
    token_request = TokenRequest(
        scopes=parse_scopes([v for k, v in pairs if k == "scope"]),
        facts=state.scope_facts(scope, headers, params.get("service", "")),
        offline=params.get("offline_token", "").lower() == "true",
        client_id=params.get("client_id", ""),
    )
    return credential, token_request


async def _post_request(
    state: AppState, scope: Scope, headers: RawHeaders, receive: Receive
) -> tuple[Credential | None, TokenRequest]:
    form = await _read_form(headers, receive)
    credential = _grant_credential(state, form, scope, headers)
    token_request = TokenRequest(
        scopes=parse_scopes([form.get("scope", "")]),
        facts=state.scope_facts(scope, headers, form.get("service", "")),
        offline=form.get("access_type", "") == "offline",
        client_id=form.get("client_id", ""),
    )
    return credential, token_request


def _body(issued: IssuedToken) -> bytes:
    body: dict[str, object] = {
        "token": issued.token,
        "access_token": issued.token,
        "expires_in": issued.expires_in,
        "issued_at": _rfc3339(issued.issued_at),
    }
    if issued.refresh_token is not None:
        body["refresh_token"] = issued.refresh_token
    return orjson.dumps(body)


@lru_cache(maxsize=16)  # the same second, over and over
def _rfc3339(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def request_credential(authorization: str | None, request: Request) -> Credential | None:
    """Authorization wins; else ``X-Api-Key``; else a verified client certificate."""
    state: AppState = request.app.state.regauth
    return scope_credential(state, authorization, request.scope, request.headers)


def scope_credential(
    state: AppState, authorization: str | None, scope: Scope, headers: HeaderLookup
) -> Credential | None:
    """:func:`request_credential` of the request in ``scope``."""
    if len(headers.getlist("dpop")) > 1:
        raise DpopInvalid("exactly one DPoP proof is allowed")
    if authorization is not None:
        return parse_authorization(authorization)
    api_key = headers.get("x-api-key")
    if api_key is not None:
        if not api_key.strip():
            raise MalformedCredential("X-Api-Key is empty")
        return ApiKeyCredential(api_key.strip())
    der = state.scope_certificate(scope, headers)
    return CertificateCredential(der) if der is not None else None


def parse_authorization(header: str | None) -> Credential | None:
    """Basic → BasicCredential; Bearer → BearerCredential; anything else is malformed."""
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "basic":
        return _basic(value)
    if scheme.lower() in ("bearer", "dpop") and value:
        return BearerCredential(value)
    raise MalformedCredential("Authorization must be 'Basic …', 'Bearer …' or 'DPoP …'")


def _basic(value: str) -> BasicCredential:
    try:
        # ValueError: non-ASCII characters in the header (b64decode refuses them).
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise MalformedCredential("Basic credentials are not valid base64 UTF-8") from None
    username, sep, password = decoded.partition(":")
    if not sep or not username:
        raise MalformedCredential("Basic credentials must be 'username:password'")
    return BasicCredential(username, password)


async def _read_form(headers: RawHeaders, receive: Receive) -> dict[str, str]:
    content_type = headers.get("content-type", "")
    if not content_type.lower().startswith("application/x-www-form-urlencoded"):
        raise RequestError("POST /token takes an application/x-www-form-urlencoded body")
    body = await read_body(headers, receive, MAX_FORM_BYTES)
    try:
        pairs = query_pairs(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise RequestError("form body is not valid UTF-8 form encoding") from None
    return dict(pairs)


async def read_body(headers: HeaderLookup, receive: Receive, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed ``limit`` bytes.

    A declared ``Content-Length`` over the limit is refused before anything is
    read; a chunked (or lying) body is counted as it streams and abandoned at
    the first byte over. A body that ends early or breaks its chunked framing
    is a 400, never a 500.
    """
    declared = headers.get("content-length")
    if declared is not None:
        digits = declared.strip()
        if not digits.isascii() or not digits.isdigit():
            raise RequestError("Content-Length is not a number")
        if len(digits) > 18 or int(digits) > limit:
            raise PayloadTooLarge(f"the body must not exceed {limit} bytes")
    # The ASGI messages read directly (what ``request.stream()`` does, without an async
    # generator per request): body chunks until ``more_body`` is false.
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "http.disconnect":
            raise RequestError("the request body was cut off or badly framed")
        if kind != "http.request":
            continue
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body must not exceed {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _grant_credential(
    state: AppState, form: dict[str, str], scope: Scope, headers: RawHeaders
) -> Credential | None:
    grant = form.get("grant_type", "")
    if grant == "password":
        username, password = form.get("username", ""), form.get("password", "")
        if not username:
            raise MissingCredential("grant_type=password needs username and password")
        return BasicCredential(username, password)
    if grant == "refresh_token":
        token = form.get("refresh_token", "")
        if not token:
            raise MissingCredential("grant_type=refresh_token needs refresh_token")
        return RefreshCredential(token, form.get("username", ""))
    if grant == "":
        return scope_credential(state, headers.get("authorization"), scope, headers)
    raise UnsupportedGrant("grant_type must be password or refresh_token")
