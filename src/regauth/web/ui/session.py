"""The session cookie and the signed-in browser of a request.

Over TLS the cookie is ``__Host-regauth_session`` (``Secure``, ``Path=/``, no
``Domain``: only this origin ever sees it). Over plain HTTP — a loopback
test or a first try-out — browsers refuse ``Secure`` cookies, so it is
``regauth_session`` without ``Secure``. Both are ``HttpOnly`` and
``SameSite=Lax``. The value is the session's random id; the database keeps
only its hash.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from regauth.authn.browser import BrowserSession, UiServices
from regauth.errors import UnavailableError
from regauth.web.state import AppState
from regauth.web.ui.origin import over_tls

SECURE_COOKIE = "__Host-regauth_session"
PLAIN_COOKIE = "regauth_session"
_KEY = "regauth.ui_session"


def services(request: Request) -> UiServices:
    state: AppState = request.app.state.regauth
    ui = state.runtime.ui
    if ui is None:
        raise UnavailableError("the web UI is turned off ([ui] enabled = false)")
    return ui


def cookie_name(request: Request) -> str:
    return SECURE_COOKIE if over_tls(request) else PLAIN_COOKIE


async def current(request: Request) -> BrowserSession | None:
    """The live session of this browser, looked up once per request."""
    if _KEY not in request.scope:
        raw = request.cookies.get(cookie_name(request), "")
        request.scope[_KEY] = await services(request).sessions.find(raw) if raw else None
    session: BrowserSession | None = request.scope[_KEY]
    return session


def remember(request: Request, session: BrowserSession | None) -> None:
    request.scope[_KEY] = session


def set_cookie(request: Request, response: Response, raw: str, max_age: int) -> None:
    response.set_cookie(
        cookie_name(request),
        raw,
        max_age=max_age,
        path="/",
        secure=over_tls(request),
        httponly=True,
        samesite="lax",
    )


def clear_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        cookie_name(request), path="/", secure=over_tls(request), httponly=True, samesite="lax"
    )
