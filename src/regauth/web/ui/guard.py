"""Security headers and the origin check for everything under ``/ui``.

Every answer gets a Content-Security-Policy without ``unsafe-inline``
(scripts and styles come from our own files only), ``X-Frame-Options:
DENY``, ``no-store`` and friends. An unsafe method (anything but GET, HEAD,
OPTIONS) is refused with 403 unless the browser says the request is
same-origin (``Sec-Fetch-Site: same-origin`` or ``none``), or, from a
browser that sends no fetch metadata, ``Origin`` is our own origin. This is
the second CSRF defence; the first is the session's token in every form
(:mod:`regauth.web.ui.forms`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.requests import Request

from regauth.web.ui.origin import our_origin

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
    "cache-control": "no-store",
}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SAME_SITE = frozenset({"same-origin", "none"})


def cross_site(request: Request) -> bool:
    """True when an unsafe request does not provably come from one of our own pages."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site.strip().lower() not in SAME_SITE
    origin = request.headers.get("origin")
    return origin is None or origin.rstrip("/") != our_origin(request)


class UiGuard:
    def __init__(self, app: ASGIApp, refuse: Callable[[Request], Awaitable[Any]]) -> None:
        self.app = app
        self._refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    if name == "cache-control" and "cache-control" in headers:
                        continue  # static files say how long they may be kept
                    headers[name] = value
            await send(message)

        request = Request(scope, receive)
        if scope["method"] not in SAFE_METHODS and cross_site(request):
            response = await self._refuse(request)
            await response(scope, receive, secured)
            return
        await self.app(scope, receive, secured)
