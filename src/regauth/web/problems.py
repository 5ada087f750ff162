"""RFC 9457 problem documents: the one place errors become HTTP responses (STYLE rule 5).

Only :class:`ProblemError` text reaches a client; anything else becomes a
bare 500 ``internal`` problem and is logged server-side.
"""

from __future__ import annotations

import logging

import orjson
from starlette.requests import Request
from starlette.responses import Response

from regauth.errors import AdminInvalid, AuthenticationError, ProblemError, ThrottledError

log = logging.getLogger("regauth.web")
PROBLEM_TYPE = "urn:regauth:problem:"
MEDIA_TYPE = "application/problem+json"


def problem_response(error: ProblemError, basic_realm: str) -> Response:
    body: dict[str, object] = {
        "type": PROBLEM_TYPE + error.code,
        "title": error.title,
        "status": error.status,
        "code": error.code,
        "detail": error.detail or error.title,
    }
    if error.oauth_error:
        body["error"] = error.oauth_error
        body["error_description"] = body["detail"]
    if isinstance(error, AdminInvalid):  # RFC 9457 extension member: each field at fault
        body["errors"] = [{"field": k, "detail": v} for k, v in error.fields.items()]
    headers = {"Cache-Control": "no-store"}
    if isinstance(error, AuthenticationError):
        headers["WWW-Authenticate"] = f'Basic realm="{basic_realm}", charset="UTF-8"'
    if isinstance(error, ThrottledError):
        headers["Retry-After"] = str(error.retry_after)
    return Response(orjson.dumps(body), error.status, headers, MEDIA_TYPE)


async def handle_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    realm = getattr(request.app.state, "basic_realm", "regauth")
    state = getattr(request.app.state, "regauth", None)
    if state is not None and request.url.path == "/token":
        state.metrics.rejected.labels(exc.code).inc()
    return problem_response(exc, realm)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(ProblemError("internal error"), "regauth")
