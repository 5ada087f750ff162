"""OpenID Connect discovery (OpenID Connect Discovery 1.0, section 4), shared by the
token endpoint's issuers (``[auth.oidc.NAME]``) and the UI's sign-in (``[ui.oidc]``).

Both read the document once, when the runtime is built; a failure is a
:class:`~regauth.errors.ConfigError` that stops start-up naming the setting.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from regauth.authn.jwks import FetchFailed, fetch_json
from regauth.errors import ConfigError


async def discovery_document(
    http: httpx.AsyncClient, url: str, issuer: str, *, path: str, issuer_path: str
) -> dict[str, object]:
    """The discovery document at ``url``; it must name ``issuer`` (else ``issuer_path``)."""
    try:
        document = await fetch_json(http, url)
    except FetchFailed as exc:
        raise ConfigError(f"OIDC discovery from {url} failed: {exc}", path=path) from None
    if document.get("issuer") != issuer:
        raise ConfigError(
            f"the discovery document names issuer {document.get('issuer')!r}, "
            f"not the configured {issuer!r}",
            path=issuer_path,
        )
    return document


def discovered_url(document: dict[str, object], member: str, url: str, path: str) -> str:
    """The http(s) URL ``member`` of the document read from ``url``."""
    value = document.get(member)
    if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https"):
        raise ConfigError(f"the discovery document at {url} has no usable {member}", path=path)
    return value
