"""Settings of the web UI, ``[ui]`` and ``[ui.oidc]``.

Sessions last ``session_ttl`` seconds from sign-in and end earlier after
``idle_ttl`` seconds without a request. ``public_url`` is the address users
type (``https://auth.example.com``); it decides the origin that state-changing
requests must come from, the OIDC redirect URI and whether the session
cookie is ``Secure`` (``__Host-`` prefixed). Without it the origin the
request arrived on is used (``X-Forwarded-*`` only from trusted proxies).

``[ui.oidc]`` adds a "Sign in with <label>" button: the authorization code
flow with PKCE (RFC 7636) against ``issuer``; the client secret is read from
``client_secret_file`` (relative to the config file) or given inline.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from regauth.config.oidc import Duration


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    return value.rstrip("/")


class UiOidcSettings(BaseModel):
    """One OpenID Provider for "Sign in with …" (the authorization code flow with PKCE).

    The user's name is taken from ``username_claim`` of the verified ID token
    (``preferred_username`` by default; ``sub`` always exists), their groups
    from ``groups_claim`` when it is a list of strings.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    issuer: str
    label: str = Field(default="single sign-on", min_length=1, max_length=64)
    discovery_url: str | None = None
    client_id: str = Field(min_length=1)
    client_secret: SecretStr | None = None
    client_secret_file: Path | None = None
    scopes: tuple[str, ...] = ("openid", "profile")
    username_claim: str = Field(default="preferred_username", min_length=1)
    groups_claim: str = ""
    algorithms: tuple[str, ...] = ("RS256", "ES256")

    @field_validator("issuer", "discovery_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return _http_url(value) if value is not None else None

    @field_validator("scopes")
    @classmethod
    def _openid(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if "openid" not in value:
            raise ValueError("must include 'openid'")
        return value

    @model_validator(mode="after")
    def _one_secret(self) -> UiOidcSettings:
        if self.client_secret is not None and self.client_secret_file is not None:
            raise ValueError("give client_secret or client_secret_file, not both")
        return self

    @property
    def discovery(self) -> str:
        return self.discovery_url or f"{self.issuer}/.well-known/openid-configuration"


class UiSettings(BaseModel):
    """``[ui]``: the browser interface under ``/ui``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    public_url: str | None = None
    # The registry's address as users type it (``registry.example.com``), for the login lines.
    registry: str = Field(default="", max_length=255, pattern=r"^[A-Za-z0-9.:\[\]-]*$")
    session_ttl: Duration = Field(default=8 * 3600.0, ge=60, le=30 * 86400)
    idle_ttl: Duration = Field(default=3600.0, ge=60, le=30 * 86400)
    oidc: UiOidcSettings | None = None

    @field_validator("public_url")
    @classmethod
    def _public(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = _http_url(value)
        if urlsplit(value).path not in ("", "/"):
            raise ValueError("must be an origin (scheme://host[:port]) without a path")
        return value
