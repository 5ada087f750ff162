"""Typed, frozen settings models. Field names are the public TOML schema."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from regauth.config.admin import AdminSettings
from regauth.config.apikeys import ApiKeySettings
from regauth.config.events import EventsSettings
from regauth.config.ldap import LdapSettings
from regauth.config.oidc import OidcIssuerSettings
from regauth.config.rules import RuleSettings
from regauth.config.throttle import ThrottleSettings
from regauth.config.ui import UiSettings
from regauth.config.webhooks import WebhookSettings
from regauth.domain.patterns import Pattern

Alg = Literal["ES256", "ES384", "ES512", "RS256", "RS384", "RS512"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class ServerSettings(_Model):
    """``[server]``. TLS paths are relative to the config file's folder (``Settings.path``).

    ``tls_cert`` + ``tls_key`` make ``regauth serve`` speak HTTPS; ``client_ca``
    adds optional client-certificate verification (SPEC §3, mTLS). A proxy that
    terminates TLS forwards the verified certificate in ``client_cert_header``
    (URL-escaped PEM), honoured only from ``trusted_proxies``.
    """

    host: str = "127.0.0.1"
    port: int = Field(default=5001, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    trusted_proxies: tuple[str, ...] = ()
    basic_realm: str = "regauth"
    tls_cert: Path | None = None
    tls_key: Path | None = None
    client_ca: Path | None = None
    client_cert_header: str = Field(default="", pattern=r"^([A-Za-z0-9][A-Za-z0-9-]*)?$")
    # Reload: the config file (and env_file, e.g. API-key fingerprints) is checked this often.
    reload_interval: float = Field(default=2.0, gt=0, le=3600)
    env_file: Path | None = None
    # /metrics: "admin" = only for an API key with the admin scope. metrics_listen =
    # "host:port" serves it there (from the `serve` process, whole server) and not on `port`.
    metrics_auth: Literal["none", "admin"] = "none"
    metrics_listen: str = Field(default="", pattern=r"^(.+:[0-9]{1,5})?$")

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            ipaddress.ip_network(item, strict=False)
        return value

    @model_validator(mode="after")
    def _tls(self) -> ServerSettings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        if self.client_ca is not None and self.tls_cert is None:
            raise ValueError("client_ca needs tls_cert and tls_key (regauth terminates TLS)")
        if self.client_cert_header and not self.trusted_proxies:
            raise ValueError("client_cert_header needs trusted_proxies (who may set it)")
        return self


class TokenSettings(_Model):
    issuer: str = Field(default="regauth", min_length=1)
    services: tuple[str, ...] = ()
    ttl: int = Field(default=300, ge=10, le=86400)
    refresh_ttl: int = Field(default=90 * 86400, ge=60)
    # The public URL of /token given to registries; "" means http://HOST:PORT/token of
    # [server] (Settings.realm), so a changed port (REGAUTH_SERVER__PORT) moves it too.
    realm: str = ""
    on_denied: Literal["narrow", "forbid"] = "narrow"


class KeySettings(_Model):
    dir: Path = Path("keys")
    alg: Alg = "ES256"
    kid: Literal["libtrust", "rfc7638"] = "libtrust"
    # false: tokens carry no x5c header, only the kid (Distribution 3.x with a jwks
    # file and no rootcertbundle; use kid = "rfc7638" there, the kid the JWKS lists).
    x5c: bool = True
    stable_ca: bool = True
    leaf_days: int = Field(default=90, ge=1, le=3650)
    ca_days: int = Field(default=3650, ge=1, le=36500)
    rsa_bits: int = Field(default=2048, ge=2048, le=8192)
    passphrase_file: Path | None = None
    rotate_cron: str = ""
    reload_interval: float = Field(default=2.0, gt=0, le=60)
    # "database": keys live in the database, sealed with the key-encryption key read
    # from kek_file or the REGAUTH_KEK environment variable (never from the database).
    store: Literal["file", "database"] = "file"
    kek_file: Path | None = None

    @field_validator("rotate_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        if value:
            from croniter import croniter

            if not croniter.is_valid(value):
                raise ValueError(f"not a valid cron expression: {value!r}")
        return value


class DatabaseSettings(_Model):
    url: str = "sqlite:///regauth.db"
    # Hot reads (users, tokens, rules, failure counters) are cached this long per
    # process; changes made elsewhere are honoured within this bound. 0 disables.
    cache_seconds: float = Field(default=1.0, ge=0, le=60)

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql+psycopg://", "postgresql://")):
            raise ValueError("must start with sqlite:/// or postgresql+psycopg://")
        return value


class PasswordSettings(_Model):
    time_cost: int = Field(default=3, ge=1, le=20)
    memory_cost: int = Field(default=65536, ge=1024)
    parallelism: int = Field(default=4, ge=1, le=64)
    cache_ttl: float = Field(default=60.0, ge=0)  # verified-login cache; 0 disables
    cache_size: int = Field(default=10000, ge=0)


class PlanSettings(_Model):
    """One entry of a plan: repository patterns (``*`` = one path segment) and their actions."""

    repositories: tuple[str, ...]
    actions: tuple[str, ...] = ("pull",)

    @field_validator("repositories")
    @classmethod
    def _patterns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if "**" in item or "${" in item:
                raise ValueError(f"plan patterns use '*' per path segment only: {item!r}")
            Pattern.compile(item)
        return value

    @field_validator("actions")
    @classmethod
    def _actions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return RuleSettings._actions(value)


class AccessPolicySettings(_Model):
    """A CEL access policy (seed 000): rules allow when default_allow is false, deny when true."""

    default_allow: bool = False
    rules: tuple[str, ...] = ()


class GlobalSettings(_Model):
    access_policy: AccessPolicySettings | None = None
    authorization_webhook: str = ""


class RepositorySettings(_Model):
    """``[repository."KEY"]``: KEY matches the name or a ``KEY/…`` prefix; globs allowed."""

    access_policy: AccessPolicySettings | None = None
    authorization_webhook: str | None = None


class AuthSettings(_Model):
    """``[auth.*]``: identity sources and authorization webhooks, each with its own model."""

    webhook: dict[str, WebhookSettings] = Field(default_factory=dict)
    api_keys: tuple[ApiKeySettings, ...] = ()
    throttle: ThrottleSettings = Field(default_factory=ThrottleSettings)
    ldap: LdapSettings | None = None
    oidc: dict[str, OidcIssuerSettings] = Field(default_factory=dict)


class LogSettings(_Model):
    level: Literal["debug", "info", "warning", "error"] = "info"
    # Also write every audit record as a JSON line on stderr (they always go to the database).
    audit: bool = False


class AuditSettings(_Model):
    """``[audit]``: the crash-proof spool, and how long token decisions are kept.

    Each record is written to ``spool_dir`` (relative to the config file)
    before the answer is sent; a background task moves them into the
    database. ``spool_fsync = "before_answer"`` (the default) makes each
    answer wait for its record's fsync, grouped with concurrent requests (a
    crash or a power cut loses nothing); ``"background"`` writes the record
    at once and fsyncs the spool every ``spool_fsync_interval`` seconds
    without making anybody wait (a crash or kill of the process loses
    nothing, a power cut the last interval).
    ``spool = false`` keeps records in memory until the next batch: a crash
    then loses the last second of records. ``retention_days`` = 0 keeps
    records for ever.
    """

    spool: bool = True
    spool_dir: Path = Path("audit-spool")
    spool_fsync: Literal["before_answer", "background"] = "before_answer"
    spool_fsync_interval: float = Field(default=1.0, gt=0, le=60)  # seconds, "background"
    retention_days: int = Field(default=0, ge=0, le=36500)
    prune_interval: float = Field(default=3600, gt=0, le=86400)  # seconds between prunes


class Settings(_Model):
    """The whole configuration. ``base_dir`` is the config file's folder (relative paths)."""

    base_dir: Path = Path()
    server: ServerSettings = ServerSettings()
    token: TokenSettings = TokenSettings()
    keys: KeySettings = KeySettings()
    database: DatabaseSettings = DatabaseSettings()
    passwords: PasswordSettings = PasswordSettings()
    log: LogSettings = LogSettings()
    audit: AuditSettings = AuditSettings()
    plans: dict[str, PlanSettings | tuple[PlanSettings, ...]] = Field(default_factory=dict)
    default_plan: str = ""
    plan_claim: str = ""
    revoked_licenses: tuple[str, ...] = ()
    license_claim: str = ""
    global_: GlobalSettings = Field(default_factory=GlobalSettings, alias="global")
    repository: dict[str, RepositorySettings] = Field(default_factory=dict)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    events: EventsSettings = Field(default_factory=EventsSettings)
    admin: AdminSettings = Field(default_factory=AdminSettings)
    ui: UiSettings = Field(default_factory=UiSettings)

    @model_validator(mode="after")
    def _plan_references(self) -> Settings:
        if self.default_plan and self.default_plan not in self.plans:
            raise ValueError(f"default_plan {self.default_plan!r} is not defined under [plans]")
        return self

    def plan_entries(self, name: str) -> tuple[PlanSettings, ...]:
        entry = self.plans[name]
        return entry if isinstance(entry, tuple) else (entry,)

    rules: tuple[RuleSettings, ...] = ()

    def path(self, value: Path) -> Path:
        return value if value.is_absolute() else self.base_dir / value

    @property
    def realm(self) -> str:
        """``token.realm``, else ``http(s)://<server.host>:<server.port>/token``."""
        tls = self.server.tls_cert is not None
        return self.token.realm or default_realm(self.server.host, self.server.port, tls=tls)

    @property
    def keys_dir(self) -> Path:
        return self.path(self.keys.dir)

    @property
    def database_url(self) -> str:
        url = self.database.url
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            return f"sqlite:///{self.path(Path(url.removeprefix('sqlite:///')))}"
        return url


def default_realm(host: str, port: int, *, tls: bool = False) -> str:
    """The /token URL of a server listening on ``host:port`` (a wildcard → loopback)."""
    if host in ("0.0.0.0", "", "::"):  # noqa: S104 - a wildcard is not a reachable host
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"{'https' if tls else 'http'}://{host}:{port}/token"
