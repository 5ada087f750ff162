"""Server-side rendering: one Jinja2 environment, autoescaped, templates under ``web/templates``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

from regauth.authn.browser import BrowserSession

if TYPE_CHECKING:
    from regauth.web.ui.visit import Visit

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
STATIC = Path(__file__).resolve().parent.parent / "static"

# Messages shown after a POST-redirect-GET, by code: nothing a link could make up is displayed.
NOTICES = {
    "signed-out": "You are signed out.",
    "expired": "Your session has ended; please sign in again.",
    "revoked": "The token was revoked.",
    "password": "Your password was changed; other browsers were signed out.",
    "saved": "Saved.",
    "removed": "Removed.",
    "rotated": "A new signing key is current.",
    "requested": "Your request was sent to the approver.",
    "withdrawn": "The request was withdrawn.",
}

_ENV = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(("html",)),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def when(value: datetime | None, empty: str = "never") -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else empty


_ENV.filters["when"] = when


def page(
    request: Request,
    template: str,
    who: Visit | BrowserSession | None,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    session = who if isinstance(who, BrowserSession) or who is None else who.session
    base = {
        "session": session,
        "visit": None if isinstance(who, BrowserSession) else who,
        "csrf": session.csrf_token if session is not None else "",
        "path": request.url.path,
        "is_admin": who is not None and not isinstance(who, BrowserSession) and who.admin,
        "notice": NOTICES.get(request.query_params.get("notice", ""), ""),
    }
    html = _ENV.get_template(template).render({**base, **context})
    return HTMLResponse(html, status, headers)


def see_other(url: str) -> RedirectResponse:
    """POST, then 303 to a page (never 302: the browser must switch to GET)."""
    return RedirectResponse(url, 303)
