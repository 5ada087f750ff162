"""Settings of events: ``[events.registry]``, ``[events.webhook.NAME]``, ``[events.approval]``.

Secrets are given inline (``secret``, a :class:`~pydantic.SecretStr` whose
``repr`` is ``**********``) or by the name of an environment variable
(``secret_env``), read when the runtime is built (:func:`resolve_secret`);
an unset variable stops start-up with the dotted path at fault.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from regauth.config.endpoints import ClientTlsSettings, http_url
from regauth.errors import ConfigError

EVENT_TYPES = frozenset(
    {
        "token.issued",
        "token.denied",
        "login.failed",
        "login.throttled",
        "registry.push",
        "registry.pull",
        "registry.delete",
        "registry.mount",
        "access.requested",
        "access.approved",
        "access.denied",
        "access.expired",
        "access.revoked",
    }
)
_PATTERN = re.compile(r"\*|[a-z]+\.\*|[a-z]+\.[a-z_.:]+")
_HEADER = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_ENV = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Secret(_Model):
    secret: SecretStr | None = None
    secret_env: str = Field(default="", pattern=_ENV.pattern + "|")

    @field_validator("secret_env")
    @classmethod
    def _not_an_override(cls, value: str) -> str:
        if value.upper().startswith("REGAUTH_"):
            raise ValueError("REGAUTH_… variables override settings; name the secret otherwise")
        return value

    @model_validator(mode="after")
    def _one_secret(self) -> _Secret:
        if self.secret is not None and self.secret_env:
            raise ValueError("secret and secret_env cannot both be set")
        if self.secret is not None and not self.secret.get_secret_value():
            raise ValueError("secret is empty")
        return self

    @property
    def has_secret(self) -> bool:
        return self.secret is not None or bool(self.secret_env)


def resolve_secret(settings: _Secret, environ: Mapping[str, str], path: str) -> bytes | None:
    """The secret's bytes (None when neither is set); ConfigError when the variable is unset."""
    if settings.secret is not None:
        return settings.secret.get_secret_value().encode()
    if not settings.secret_env:
        return None
    value = environ.get(settings.secret_env, "")
    if not value:
        raise ConfigError(f"environment variable {settings.secret_env} is not set", path=path)
    return value.encode()


class EventWebhookSettings(_Secret, ClientTlsSettings):
    """``[events.webhook.NAME]``: where signed events are POSTed, and which ones (TLS keys:
    :class:`~regauth.config.endpoints.ClientTlsSettings`)."""

    url: str
    events: tuple[str, ...] = Field(min_length=1)
    timeout_ms: int = Field(default=5000, gt=0, le=60000)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return http_url(value)

    @field_validator("events")
    @classmethod
    def _events(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            known = item in EVENT_TYPES or item.endswith(".*") or item == "*"
            if not _PATTERN.fullmatch(item) or not (known or item.startswith("admin.")):
                raise ValueError(f"unknown event type {item!r}")
        return value

    @model_validator(mode="after")
    def _shape(self) -> EventWebhookSettings:
        if not self.has_secret:
            raise ValueError("secret or secret_env is required (deliveries are signed)")
        self.check_client_pair()
        return self

    def wants(self, event_type: str) -> bool:
        return any(subscribed(p, event_type) for p in self.events)


def subscribed(pattern: str, event_type: str) -> bool:
    """``*`` is every event, ``admin.*`` every ``admin.…`` event, else an exact type."""
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type


class RegistryNotificationSettings(_Secret):
    """``[events.registry]``: the registry sends ``header: Bearer <secret>`` (or the secret)."""

    header: str = Field(default="Authorization", pattern=_HEADER.pattern)
    public_url: str = ""  # how the registry reaches regauth, for `registry-config`

    @property
    def enabled(self) -> bool:
        return self.has_secret


class ApprovalSettings(_Secret):
    """``[events.approval]``: the signed approval callback and the temporary grants it makes."""

    enabled: bool = False
    service: str = Field(default="approval-service", min_length=1, max_length=128)
    signature_header: str = Field(default="X-Regauth-Signature", pattern=_HEADER.pattern)
    tolerance: int = Field(default=300, ge=1, le=86400)
    max_duration: int = Field(default=7 * 86400, ge=60)

    @model_validator(mode="after")
    def _mandatory_secret(self) -> ApprovalSettings:
        if self.enabled and not self.has_secret:
            raise ValueError("the approval callback is enabled: secret or secret_env is required")
        return self


class DeliverySettings(_Model):
    """``[events.delivery]``: the outbox worker."""

    retry_schedule: tuple[float, ...] = Field(
        default=(5, 30, 120, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600), min_length=1
    )
    jitter: float = Field(default=0.2, ge=0, le=0.5)
    lease_seconds: float = Field(default=90, gt=0)
    poll_interval: float = Field(default=1.0, gt=0, le=60)
    batch: int = Field(default=50, ge=1, le=1000)
    concurrency: int = Field(default=8, ge=1, le=64)
    # Events whose deliveries all succeeded (or that nobody subscribed to) are deleted
    # after this many days; dead-lettered ones stay until retried or deleted by hand.
    retention_days: float = Field(default=30, gt=0)

    @field_validator("retry_schedule")
    @classmethod
    def _positive(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(v <= 0 for v in value):
            raise ValueError("every delay must be positive")
        return value


class EventsSettings(_Model):
    registry: RegistryNotificationSettings = Field(default_factory=RegistryNotificationSettings)
    webhook: dict[str, EventWebhookSettings] = Field(default_factory=dict)
    approval: ApprovalSettings = Field(default_factory=ApprovalSettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)

    @model_validator(mode="after")
    def _lease(self) -> EventsSettings:
        slowest = max((w.timeout_ms for w in self.webhook.values()), default=0) / 1000
        if self.delivery.lease_seconds <= slowest:
            raise ValueError("delivery.lease_seconds must exceed every webhook's timeout_ms")
        return self

    def subscribed_types(self) -> frozenset[str]:
        """The known event types some webhook wants (used to skip writing the others)."""
        return frozenset(t for t in EVENT_TYPES if any(w.wants(t) for w in self.webhook.values()))
