"""Settings of the authorization webhooks, ``[auth.webhook.NAME]`` (SPEC §4.6, seed 000).

Only shapes are checked here; certificate and key files
(:class:`~regauth.config.endpoints.ClientTlsSettings`) are read when the
webhook stage is built (:meth:`regauth.authz.webhook.WebhookStage.build`),
relative paths resolving against the configuration file's directory.
Credentials are :class:`~pydantic.SecretStr`, so ``repr`` shows ``**********``.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from regauth.config.endpoints import ClientTlsSettings, http_url

_FIELD_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 token
_CREDENTIAL = re.compile(r"[\x21-\x7e]+")  # visible ASCII: fits in a header, no spaces
# Headers the webhook protocol sets itself, or that would break the request.
_RESERVED_PREFIXES = ("x-forwarded-", "x-registry-")
_RESERVED = frozenset({"host", "connection", "content-length", "transfer-encoding", "te"})


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BasicAuthSettings(_Model):
    """``basic_auth = { username = "…", password = "…" }``."""

    username: str = Field(min_length=1)
    password: SecretStr

    @field_validator("username")
    @classmethod
    def _no_colon(cls, value: str) -> str:
        if ":" in value:
            raise ValueError("must not contain ':'")
        return value


class WebhookSettings(_Model, ClientTlsSettings):
    """One named webhook. At most one of ``bearer_token`` / ``basic_auth``."""

    url: str
    timeout_ms: int = Field(default=1000, gt=0, le=60000)
    bearer_token: SecretStr | None = None
    basic_auth: BasicAuthSettings | None = None
    forward_headers: tuple[str, ...] = ()
    cache_ttl: int = Field(default=60, ge=0)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return http_url(value, "must not carry credentials; use bearer_token or basic_auth")

    @field_validator("bearer_token")
    @classmethod
    def _token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _CREDENTIAL.fullmatch(value.get_secret_value()):
            raise ValueError("must be visible ASCII without spaces")
        return value

    @field_validator("forward_headers")
    @classmethod
    def _headers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        seen: set[str] = set()
        for name in value:
            lower = name.lower()
            if not _FIELD_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a header name")
            if lower in _RESERVED or lower.startswith(_RESERVED_PREFIXES):
                raise ValueError(f"{name!r} is set by the webhook protocol and cannot be forwarded")
            if lower in seen:
                raise ValueError(f"{name!r} is listed twice")
            seen.add(lower)
        return value

    @model_validator(mode="after")
    def _combinations(self) -> WebhookSettings:
        if self.bearer_token is not None and self.basic_auth is not None:
            raise ValueError("bearer_token and basic_auth cannot both be set")
        self.check_client_pair()
        return self
