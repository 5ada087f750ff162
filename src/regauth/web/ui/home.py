"""The landing page after sign-in."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from regauth.authn.browser import BrowserSession
from regauth.web.ui.render import page


async def home(request: Request, session: BrowserSession) -> Response:
    return page(request, "home/index.html", session)
