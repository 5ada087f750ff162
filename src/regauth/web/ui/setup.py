"""Registry setup: the ``auth.token`` and ``notifications`` blocks for this server.

Everything shown is public (realm, service, issuer, the bundle's file name);
the notification endpoint's bearer secret is never printed, only where it
is configured.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from regauth.web.state import AppState
from regauth.web.ui.origin import our_origin
from regauth.web.ui.render import page
from regauth.web.ui.visit import Visit


def token_block(realm: str, service: str, issuer: str) -> str:
    return (
        "auth:\n"
        "  token:\n"
        f"    realm: {realm}\n"
        f"    service: {service}\n"
        f"    issuer: {issuer}\n"
        "    rootcertbundle: /etc/docker/registry/regauth-bundle.pem\n"
    )


def notifications_block(url: str) -> str:
    return (
        "notifications:\n"
        "  endpoints:\n"
        "    - name: regauth\n"
        f"      url: {url}\n"
        "      headers:\n"
        "        Authorization: [Bearer <the secret of the registry notifications endpoint>]\n"
        "      timeout: 2s\n"
        "      threshold: 3\n"
        "      backoff: 1s\n"
    )


async def setup(request: Request, visit: Visit) -> Response:
    state: AppState = request.app.state.regauth
    settings = state.runtime.settings
    origin = our_origin(request)
    services = settings.token.services or ("registry",)
    blocks = [
        (service, token_block(f"{origin}/token", service, settings.token.issuer))
        for service in services
    ]
    return page(
        request,
        "setup/index.html",
        visit,
        blocks=blocks,
        notifications=notifications_block(f"{origin}/events/registry"),
        configured_realm=settings.token.realm,
        origin=origin,
    )
