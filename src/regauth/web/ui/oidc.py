"""``/ui/oidc/start`` and ``/ui/oidc/callback``: "Sign in with <IdP>" (code flow with PKCE).

The ``state`` travels in the authorization URL (that is its purpose: it is
not a secret) and in a short-lived cookie bound to this browser; the PKCE
verifier and the nonce stay in the database. The redirect URI is
``<origin>/ui/oidc/callback`` and must be registered with the IdP.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from regauth.authn.browser import BrowserSession
from regauth.errors import InvalidCredential, RequestError
from regauth.web.ui import session as sessions
from regauth.web.ui.origin import our_origin, over_tls
from regauth.web.ui.render import page
from regauth.web.ui.signin import safe_next, start_session

if TYPE_CHECKING:  # httpx and the OIDC client load only when [ui.oidc] is configured
    from regauth.authn.oidc_login import OidcSignIn

STATE_COOKIE = "regauth_oidc_state"
CALLBACK = "/ui/oidc/callback"


def _client(request: Request) -> OidcSignIn:
    oidc = sessions.services(request).oidc
    if oidc is None:
        raise RequestError("single sign-on is not configured ([ui.oidc])")
    return oidc


def redirect_uri(request: Request) -> str:
    return our_origin(request) + CALLBACK


async def start(request: Request, session: BrowserSession | None) -> Response:
    oidc = _client(request)
    target = safe_next(request.query_params.get("next"))
    url, state = await oidc.begin(redirect_uri(request), target)
    response = RedirectResponse(url, 303)
    # SameSite=Lax: the IdP's redirect back is a top-level GET, which carries it.
    response.set_cookie(
        STATE_COOKIE,
        state,
        max_age=600,
        path=CALLBACK,
        secure=over_tls(request),
        httponly=True,
        samesite="lax",
    )
    return response


async def callback(request: Request, session: BrowserSession | None) -> Response:
    oidc = _client(request)
    params = request.query_params
    if params.get("error"):
        return _failed(request, "The identity provider did not sign you in.")
    state, code = params.get("state", ""), params.get("code", "")
    expected = request.cookies.get(STATE_COOKIE, "")
    if not state or not code or not expected:
        return _failed(request, "This sign-in was not started in this browser; start again.")
    if not hmac.compare_digest(state.encode(), expected.encode()):
        return _failed(request, "This sign-in was not started in this browser; start again.")
    if params.get("iss") not in (None, oidc.issuer):  # RFC 9207: the answer of another IdP
        return _failed(request, "The answer came from another identity provider.")
    try:
        principal, target = await oidc.finish(
            state=state, code=code, redirect_uri=redirect_uri(request)
        )
    except InvalidCredential as error:
        return _failed(request, error.detail or "The sign-in failed.")
    response = await start_session(request, principal, safe_next(target))
    response.delete_cookie(STATE_COOKIE, path=CALLBACK)
    return response


def _failed(request: Request, message: str) -> Response:
    error = InvalidCredential(message, title="Sign-in failed")
    response = page(request, "error.html", None, status=401, error=error)
    response.delete_cookie(STATE_COOKIE, path=CALLBACK)
    return response
