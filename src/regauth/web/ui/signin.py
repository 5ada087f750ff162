"""Sign-in with a password (local accounts, LDAP), sign-out, and the landing redirect.

The sign-in form has no session yet, so its CSRF token is a double submit: a
random value in a short-lived cookie and the same value in the form. A
successful sign-in always starts a new session (no fixation); sign-out is a
POST that deletes the session row and the cookie. Failures say only "wrong
username or password", whichever source refused; over the throttle the
answer is 429 with ``Retry-After``, as at ``/token``.
"""

from __future__ import annotations

import hmac
import logging

from starlette.requests import Request
from starlette.responses import Response

from regauth.authn.browser import BrowserSession
from regauth.domain.principal import Principal
from regauth.errors import AuthenticationError, CsrfRejected, RequestError
from regauth.ports import CallerFacts
from regauth.web.state import AppState
from regauth.web.ui import session as sessions
from regauth.web.ui.endpoint import MAX_FIELDS, MAX_FORM_BYTES, read_form
from regauth.web.ui.origin import over_tls
from regauth.web.ui.render import page, see_other
from regauth.web.ui.visit import Visit

log = logging.getLogger("regauth.web.ui")
SIGNIN_COOKIE = "regauth_signin"
HOME = "/ui/"


def safe_next(value: str | None) -> str:
    """Only our own pages: an absolute path under /ui/, never ``//host`` or a URL."""
    if not value or not value.startswith("/ui/") or "//" in value or "\\" in value:
        return HOME
    return value[:512]


def facts(request: Request) -> CallerFacts:
    state: AppState = request.app.state.regauth
    return CallerFacts(
        client_ip=state.client_ip(request), service="", method=request.method, url=""
    )


async def signin_form(request: Request, session: BrowserSession | None) -> Response:
    if session is not None:
        return see_other(safe_next(request.query_params.get("next")))
    target = safe_next(request.query_params.get("next"))
    return _form(request, status=200, error="", username="", target=target)


def _form(request: Request, *, status: int, error: str, username: str, target: str) -> Response:
    token = request.cookies.get(SIGNIN_COOKIE) or ""
    if len(token) < 20:
        token = sessions.services(request).random.token_urlsafe(24)
    oidc = sessions.services(request).oidc
    response = page(
        request,
        "signin/form.html",
        None,
        status=status,
        form_token=token,
        error=error,
        username=username,
        next=target,
        oidc_label=oidc.label if oidc is not None else "",
    )
    response.set_cookie(
        SIGNIN_COOKIE,
        token,
        max_age=3600,
        path="/ui/",
        secure=over_tls(request),
        httponly=True,
        samesite="strict",
    )
    return response


async def signin(request: Request, session: BrowserSession | None) -> Response:
    if int(request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
        raise RequestError("the form is too large")
    try:
        form = await request.form(max_files=0, max_fields=MAX_FIELDS)
    except Exception:
        raise RequestError("the form could not be read") from None
    presented, expected = str(form.get("csrf", "")), request.cookies.get(SIGNIN_COOKIE, "")
    if not expected or not hmac.compare_digest(presented.encode(), expected.encode()):
        raise CsrfRejected("this form has expired; reload the sign-in page")
    username, password = str(form.get("username", "")).strip(), str(form.get("password", ""))
    target = safe_next(str(form.get("next", "")))
    if not username or not password:
        message = "Enter your username and password."
        return _form(request, status=400, error=message, username=username, target=target)
    try:
        principal = await sessions.services(request).password.sign_in(
            username, password, facts(request)
        )
    except AuthenticationError:
        log.info("ui: sign-in refused for a username from %s", facts(request).client_ip)
        message = "Wrong username or password."
        return _form(request, status=401, error=message, username=username, target=target)
    return await start_session(request, principal, target)


async def start_session(request: Request, principal: Principal, target: str) -> Response:
    ui = sessions.services(request)
    raw, session = await ui.sessions.start(
        principal,
        client_ip=facts(request).client_ip,
        user_agent=request.headers.get("user-agent", ""),
    )
    sessions.remember(request, session)
    response = see_other(target)
    max_age = int((session.expires_at - session.created_at).total_seconds())
    sessions.set_cookie(request, response, raw, max_age)
    response.delete_cookie(SIGNIN_COOKIE, path="/ui/")
    log.info("ui: %s signed in (%s)", principal.subject, principal.source)
    return response


async def signout(request: Request, visit: Visit) -> Response:
    await read_form(request, visit)
    await sessions.services(request).sessions.end(visit.session)
    response = see_other("/ui/signin?notice=signed-out")
    sessions.clear_cookie(request, response)
    return response
