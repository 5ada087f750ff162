"""How a UI page is served: session lookup, the signed-out redirect, HTML errors.

Every UI endpoint is wrapped by :func:`ui_endpoint`. A page that needs a
session sends a signed-out browser to the sign-in page (303, with the page
to come back to). A :class:`~regauth.errors.ProblemError` becomes an HTML
error page with the problem's status and code — never a stack trace, never
backend text. Forms are read by :func:`read_form`, which checks the
session's CSRF token (the first defence; :mod:`regauth.web.ui.guard` is the
second).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from regauth.authn.browser import BrowserSession
from regauth.errors import CsrfRejected, ProblemError, RequestError, ThrottledError
from regauth.web.ui import session as sessions
from regauth.web.ui.render import page, see_other
from regauth.web.ui.visit import Visit, visit_of

log = logging.getLogger("regauth.web.ui")
MAX_FORM_BYTES = 64 * 1024
MAX_FIELDS = 200

Page = Callable[[Request, Visit], Awaitable[Response]]
PublicPage = Callable[[Request, BrowserSession | None], Awaitable[Response]]


def error_page(request: Request, session: BrowserSession | None, error: ProblemError) -> Response:
    headers = {"Retry-After": str(error.retry_after)} if isinstance(error, ThrottledError) else {}
    return page(request, "error.html", session, status=error.status, headers=headers, error=error)


def signin_url(request: Request) -> str:
    wanted = request.url.path
    if request.url.query:
        wanted += "?" + request.url.query
    return "/ui/signin?next=" + quote(wanted, safe="/")


def ui_endpoint(handler: Page) -> Callable[[Request], Awaitable[Response]]:
    """A page for signed-in users; a signed-out browser is sent to the sign-in page."""

    async def endpoint(request: Request) -> Response:
        try:
            session = await sessions.current(request)
            visit = await visit_of(request, session) if session is not None else None
            if session is not None and visit is None:  # the account was removed or disabled
                await sessions.services(request).sessions.end(session)
                sessions.remember(request, None)
            if visit is None:
                if request.method in ("GET", "HEAD"):
                    return see_other(signin_url(request))
                return see_other("/ui/signin?notice=expired")
            return await handler(request, visit)
        except ProblemError as error:
            return error_page(request, await _quiet_session(request), error)

    return endpoint


def public_endpoint(handler: PublicPage) -> Callable[[Request], Awaitable[Response]]:
    """A page for anyone (sign-in, OIDC callback)."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request, await sessions.current(request))
        except ProblemError as error:
            return error_page(request, await _quiet_session(request), error)

    return endpoint


async def _quiet_session(request: Request) -> BrowserSession | None:
    try:
        return await sessions.current(request)
    except ProblemError:
        return None


async def read_form(request: Request, who: Visit | BrowserSession | None) -> FormData:
    """The posted form, after its CSRF token was checked against the session's."""
    if int(request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
        raise RequestError("the form is too large")
    try:
        form = await request.form(max_files=0, max_fields=MAX_FIELDS)
    except Exception:  # multipart / urlencoded parse errors: a 400, not a 500
        raise RequestError("the form could not be read") from None
    session = who.session if isinstance(who, Visit) else who
    token = form.get("csrf")
    if session is None or not isinstance(token, str) or not session.csrf_ok(token):
        log.info("ui: refused a form without a valid CSRF token on %s", request.url.path)
        raise CsrfRejected("this form has expired or did not come from this site; reload the page")
    return form


async def refuse_cross_site(request: Request) -> Response:
    """The guard's answer to an unsafe request from another site."""
    log.info("ui: refused a cross-site %s on %s", request.method, request.url.path)
    error = CsrfRejected("cross-site requests are not accepted")
    return page(request, "error.html", None, status=error.status, error=error)
