"""RFC 9457 problem documents: the one place errors become HTTP responses (STYLE rule 5).

Every answer the application gives that is not a success goes through here:
:class:`ProblemError` (our own error tree), Starlette's ``HTTPException``
(404 for an unknown path, 405 for a wrong method), an unavailable database
(503 ``auth.backend_unavailable`` with ``Retry-After``) and anything else (a
bare 500 ``internal``, logged server-side). Only :class:`ProblemError` text
reaches a client.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

import orjson
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from regauth.errors import (
    AdminInvalid,
    AuthenticationError,
    BackendUnavailable,
    MethodNotAllowed,
    NotFoundError,
    ProblemError,
    RequestError,
    ThrottledError,
    UnavailableError,
)

log = logging.getLogger("regauth.web")
PROBLEM_TYPE = "urn:regauth:problem:"
MEDIA_TYPE = "application/problem+json"
_BY_STATUS: dict[int, type[RequestError]] = {404: NotFoundError, 405: MethodNotAllowed}
_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def problem_response(
    error: ProblemError, basic_realm: str, headers: dict[str, str] | None = None
) -> Response:
    body: dict[str, object] = {
        "type": PROBLEM_TYPE + error.code,
        "title": error.title,
        "status": error.status,
        "code": error.code,
        "detail": error.detail or error.title,
    }
    # The docker client shows only a ``details`` field of an error body (for a 401:
    # "unauthorized: <details>"); the RFC 9457 members above stay as they are.
    body["details"] = body["detail"]
    if error.oauth_error:
        body["error"] = error.oauth_error
        body["error_description"] = body["detail"]
    if isinstance(error, AdminInvalid):  # RFC 9457 extension member: each field at fault
        body["errors"] = [{"field": k, "detail": v} for k, v in error.fields.items()]
    headers = {**(headers or {}), "Cache-Control": "no-store"}
    if isinstance(error, AuthenticationError):
        headers["WWW-Authenticate"] = f'Basic realm="{basic_realm}", charset="UTF-8"'
    if isinstance(error, ThrottledError | UnavailableError):
        headers["Retry-After"] = str(error.retry_after)
    return Response(orjson.dumps(body), error.status, headers, MEDIA_TYPE)


async def handle_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    realm = getattr(request.app.state, "basic_realm", "regauth")
    state = getattr(request.app.state, "regauth", None)
    if state is not None and request.scope.get("path") == "/token":
        state.metrics.rejected.labels(exc.code).inc()
    return problem_response(exc, realm)


async def handle_http(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (unknown path, wrong method…) as problems."""
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    if "Allow" in headers:  # Starlette joins a set: give a stable order
        allowed = {m.strip() for m in headers["Allow"].split(",")}
        headers["Allow"] = ", ".join(m for m in _METHOD_ORDER if m in allowed)
    return problem_response(http_error(exc.status_code), "regauth", headers)


def http_error(status: int) -> ProblemError:
    """The problem for an HTTP status the framework chose (never with its text)."""
    known = _BY_STATUS.get(status)
    if known is not None:
        return known()
    if 400 <= status < 500:
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
        return RequestError(code=f"request.http_{status}", title=phrase)
    return ProblemError("internal error")


def is_database_down(exc: BaseException) -> bool:
    """A driver-level failure (locked, unreachable, pool exhausted), not a bug of ours."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OperationalError | InterfaceError | PoolTimeout)


def database_message(exc: BaseException) -> str:
    """The driver's own message (e.g. ``database is locked``), without statement or parameters."""
    orig = getattr(exc, "orig", None)
    return " ".join(str(orig if orig is not None else exc).split())[:300]


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    if is_database_down(exc):
        log.error(
            "database unavailable on %s %s: %s: %s",
            request.method,
            request.scope.get("path"),
            type(getattr(exc, "orig", None) or exc).__name__,
            database_message(exc),
        )
        state = getattr(request.app.state, "regauth", None)
        if state is not None and request.scope.get("path") == "/token":
            state.metrics.rejected.labels(BackendUnavailable.code).inc()
        error = BackendUnavailable("the database is unavailable; retry shortly")
        return problem_response(error, "regauth")
    log.exception("unhandled error on %s %s", request.method, request.scope.get("path"))
    return problem_response(ProblemError("internal error"), "regauth")
