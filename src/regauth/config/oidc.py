"""Settings of the OIDC identity source, ``[auth.oidc.NAME]`` (SPEC §3, seeds 002 and 004).

One table per trusted issuer. Only shapes are checked here: the discovery
document and the JWKS are fetched when the authenticator starts
(:meth:`regauth.authn.oidc.OidcAuthenticator.start`), and a failure there
stops start-up with a :class:`~regauth.errors.ConfigError` naming the path.

Durations accept integer seconds or a string such as ``"90s"``, ``"10m"``,
``"1h"`` or ``"1h30m"``; they are stored as float seconds.
"""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

# Asymmetric JWS algorithms only: "none" and HS* (a shared secret the IdP
# would have to give us) are never accepted for access tokens.
SIGNING_ALGORITHMS = frozenset(
    {
        "RS256",
        "RS384",
        "RS512",
        "PS256",
        "PS384",
        "PS512",
        "ES256",
        "ES384",
        "ES512",
        "EdDSA",
    }
)

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def parse_duration(value: object) -> object:
    """``"10m"`` → 600.0; numbers pass through; anything else is left for pydantic to refuse."""
    if not isinstance(value, str):
        return value
    text = value.strip().replace(" ", "")
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {value!r} (use seconds or e.g. '60s', '10m', '1h')")
    return sum(float(number) * _UNITS[unit] for number, unit in parts)


Duration = Annotated[float, BeforeValidator(parse_duration)]


def _http_url(value: str | None) -> str | None:
    if value is not None:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
    return value


class OidcIssuerSettings(BaseModel):
    """One trusted issuer of bearer JWTs (an OIDC provider or OAuth authorization server).

    Exactly one of ``discovery_url`` / ``jwks_url``. ``required_scope`` is
    compared with the token's scopes *after* ``scope_map`` (seed 004's
    ``registry.token.issue``; its absence is 403 ``auth.scope_denied``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    issuer: str = Field(min_length=1)
    audience: tuple[str, ...] = Field(min_length=1)
    discovery_url: str | None = None
    jwks_url: str | None = None
    algorithms: tuple[str, ...] = Field(default=("RS256", "ES256"), min_length=1)
    jwks_cache_ttl: Duration = Field(default=600.0, gt=0)
    leeway: Duration = Field(default=60.0, ge=0, le=3600)
    scope_claim: str = Field(default="scope", min_length=1)
    scope_map: dict[str, str] = Field(default_factory=dict)
    groups_claim: str = Field(default="groups", min_length=1)
    required_scope: str | None = None
    require_sender_constraint: bool = False
    dpop_max_age: Duration = Field(default=300.0, gt=0, le=3600)

    @field_validator("audience", mode="before")
    @classmethod
    def _listify(cls, value: object) -> object:
        return (value,) if isinstance(value, str) else value

    @field_validator("audience")
    @classmethod
    def _non_empty(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not item for item in value):
            raise ValueError("audience values must not be empty")
        return value

    @field_validator("discovery_url", "jwks_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return _http_url(value)

    @field_validator("algorithms")
    @classmethod
    def _asymmetric(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for alg in value:
            if alg not in SIGNING_ALGORITHMS:
                allowed = ", ".join(sorted(SIGNING_ALGORITHMS))
                raise ValueError(f"unsupported algorithm {alg!r} (allowed: {allowed})")
        return value

    @field_validator("scope_map")
    @classmethod
    def _scope_names(cls, value: dict[str, str]) -> dict[str, str]:
        if any(not k or not v or " " in v for k, v in value.items()):
            raise ValueError("scope_map keys and values must be non-empty; values without spaces")
        return value

    @model_validator(mode="after")
    def _one_key_source(self) -> OidcIssuerSettings:
        if self.discovery_url is not None and self.jwks_url is not None:
            raise ValueError("set exactly one of discovery_url or jwks_url, not both")
        if self.discovery_url is None and self.jwks_url is None:
            raise ValueError("set exactly one of discovery_url or jwks_url (neither is set)")
        return self
