"""What the outgoing HTTP endpoints share: authorization webhooks (``[auth.webhook.NAME]``)
and event webhooks (``[events.webhook.NAME]``).

:class:`ClientTlsSettings` holds their TLS keys, flat in the endpoint's table:
``client_certificate_bundle`` with ``client_private_key`` (mutual TLS) and
``server_ca_bundle`` (whom to trust instead of the system's CAs). Only shapes
are checked here; the files are read when the TLS context is built
(:func:`regauth.authz.webhook_client.client_tls`), relative paths resolving
against the configuration file's directory.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict


class ClientTlsSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    client_certificate_bundle: Path | None = None
    client_private_key: Path | None = None
    server_ca_bundle: Path | None = None

    @property
    def custom_tls(self) -> bool:
        """True when a CA bundle or a client certificate is configured."""
        return self.server_ca_bundle is not None or self.client_certificate_bundle is not None

    def check_client_pair(self) -> None:
        """Called by the endpoint's model validator, after its own checks."""
        if (self.client_certificate_bundle is None) != (self.client_private_key is None):
            raise ValueError("client_certificate_bundle and client_private_key go together")


def http_url(value: str, credentials: str = "must not carry credentials") -> str:
    """``value`` when it is an http(s) URL with a host and no user or password in it."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError(credentials)
    return value
