"""The registry's ``notifications:`` block that matches ``[events.registry]``.

``regauth registry-config --notifications`` prints it; the registry then
POSTs its events to ``/events/registry`` with the configured header.
"""

from __future__ import annotations

import json

from regauth.config import Settings


def notifications_url(settings: Settings) -> str:
    """``events.registry.public_url``, else the listener's own address."""
    public = settings.events.registry.public_url
    if public:
        return public.rstrip("/") + "/events/registry"
    scheme = "https" if settings.server.tls_cert is not None else "http"
    host = settings.server.host
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}:{settings.server.port}/events/registry"


def notifications_block(settings: Settings, secret: bytes, url: str | None = None) -> str:
    """YAML for the registry configuration (values JSON-quoted, which YAML reads as strings)."""
    header = settings.events.registry.header
    value = secret.decode()
    if header.lower() == "authorization":
        value = f"Bearer {value}"
    q = json.dumps
    return (
        "notifications:\n"
        "  endpoints:\n"
        "    - name: regauth\n"
        f"      url: {q(url or notifications_url(settings))}\n"
        "      headers:\n"
        f"        {header}: [{q(value)}]\n"
        "      timeout: 2s\n"
        "      threshold: 3\n"
        "      backoff: 1s\n"
    )
