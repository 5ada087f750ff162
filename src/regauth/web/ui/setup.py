"""Registry setup: the ``auth.token`` and ``notifications`` blocks for this server.

The token block is public (realm, service, issuer, the bundle's file name).
The notifications block is the one ``regauth registry-config
--notifications`` prints for ``[events.registry]`` (its header, the address
the registry posts to); its secret is shown to administrators only, others
see where it goes. Without a configured secret the page says what to set.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from regauth.events.notifications import notifications_block
from regauth.web.state import AppState
from regauth.web.ui.origin import our_origin
from regauth.web.ui.render import page
from regauth.web.ui.visit import Visit

HIDDEN_SECRET = b"<the secret of [events.registry], shown to administrators>"


def token_block(realm: str, service: str, issuer: str) -> str:
    return (
        "auth:\n"
        "  token:\n"
        f"    realm: {realm}\n"
        f"    service: {service}\n"
        f"    issuer: {issuer}\n"
        "    rootcertbundle: /etc/docker/registry/regauth-bundle.pem\n"
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
    events = state.runtime.events
    secret = events.registry_secret if events is not None else None
    notifications = None
    if secret is not None:
        # Where the registry reaches us: the configured public_url, else the address used here.
        url = None if settings.events.registry.public_url else f"{origin}/events/registry"
        notifications = notifications_block(settings, secret if visit.admin else HIDDEN_SECRET, url)
    return page(
        request,
        "setup/index.html",
        visit,
        blocks=blocks,
        notifications=notifications,
        notifications_header=settings.events.registry.header,
        configured_realm=settings.token.realm,
        origin=origin,
    )
