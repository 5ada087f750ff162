"""Our own origin as the browser sees it, and whether the browser reached us over TLS.

``ui.public_url`` wins when configured. Otherwise the request's scheme and
``Host``; ``X-Forwarded-Proto`` / ``X-Forwarded-Host`` count only from a
trusted proxy (``server.trusted_proxies``), like everywhere else.
"""

from __future__ import annotations

from starlette.requests import Request

from regauth.web.client_ip import is_trusted
from regauth.web.state import AppState


def our_origin(request: Request) -> str:
    state: AppState = request.app.state.regauth
    configured = state.runtime.settings.ui.public_url
    if configured:
        return configured
    scheme = request.scope.get("scheme", "http")
    host = request.headers.get("host") or "{}:{}".format(*(request.scope.get("server") or ("", "")))
    peer = request.client.host if request.client else None
    if state.trusted_proxies and peer is not None and is_trusted(peer, state.trusted_proxies):
        scheme = request.headers.get("x-forwarded-proto", scheme).split(",")[0].strip()
        host = request.headers.get("x-forwarded-host", host).split(",")[0].strip()
    return f"{scheme}://{host}".rstrip("/")


def over_tls(request: Request) -> bool:
    return our_origin(request).startswith("https://")
