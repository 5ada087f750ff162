"""Server-side rendering: one Jinja2 environment, autoescaped, templates under ``web/templates``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

from regauth.authn.browser import BrowserSession

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
STATIC = Path(__file__).resolve().parent.parent / "static"

ADMIN_KEY = "regauth.ui_admin"
# Messages shown after a POST-redirect-GET, by code: nothing a link could make up is displayed.
NOTICES = {
    "signed-out": "You are signed out.",
    "expired": "Your session has ended; please sign in again.",
    "revoked": "The token was revoked.",
    "password": "Your password was changed; other browsers were signed out.",
    "saved": "Saved.",
    "removed": "Removed.",
}

_ENV = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(("html",)),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def page(
    request: Request,
    template: str,
    session: BrowserSession | None,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    base = {
        "session": session,
        "csrf": session.csrf_token if session is not None else "",
        "path": request.url.path,
        "is_admin": bool(request.scope.get(ADMIN_KEY, False)),
        "notice": NOTICES.get(request.query_params.get("notice", ""), ""),
    }
    html = _ENV.get_template(template).render({**base, **context})
    return HTMLResponse(html, status, headers)


def see_other(url: str) -> RedirectResponse:
    """POST, then 303 to a page (never 302: the browser must switch to GET)."""
    return RedirectResponse(url, 303)
