"""Wiring: settings → ready objects (database, stores, keys, identity chain, stages).

Built once per process by the web app's lifespan or by a CLI command.
The key ring is watched: a rotation made by ``regauth keys rotate`` (or by
the cron schedule in any process) is picked up within ``keys.reload_interval``
seconds, swapped atomically, and a bad key directory keeps the old ring.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from regauth.audit import DatabaseAudit
from regauth.authn.apikeys import ApiKeys
from regauth.authn.browser import BrowserSessions, PasswordSignIn, UiServices
from regauth.authn.certificate import ClientCertificates
from regauth.authn.chain import IdentityChain, attempts_counter
from regauth.authn.local import LocalUsers
from regauth.authn.passwords import PasswordHasher
from regauth.authn.pat import PersonalTokens
from regauth.authn.refresh import RefreshTokens
from regauth.authn.throttle import Throttle
from regauth.authz.account_source import DatabaseRules
from regauth.authz.config_rules import compile_rules
from regauth.authz.temporary import ActiveGrants
from regauth.config import Settings
from regauth.config.model import AccessPolicySettings
from regauth.domain.credentials import Credential
from regauth.domain.patterns import Pattern
from regauth.domain.plans import PlanEntry, Plans
from regauth.domain.policy import Stage
from regauth.errors import ConfigError
from regauth.events.runtime import EventsRuntime
from regauth.keys import Keyring, KeyStore, TokenSigner
from regauth.metrics import MetricRegistry
from regauth.ports import AsyncStage, Authenticator, CallerFacts, Clock, Outcome, Random
from regauth.retention import AuditRetention
from regauth.service import Decider, TokenPolicy, TokenService
from regauth.spool import Spool
from regauth.store import AuditStore, Database, GroupStore, RuleStore, TokenStore, UserStore
from regauth.store.cache import CachedTokens, CachedUsers

if TYPE_CHECKING:
    from regauth.authn.oidc import OidcAuthenticator
    from regauth.authz.webhook import WebhookMetrics
    from regauth.keys.sealing import KeyEncryptionKey

log = logging.getLogger("regauth")
LEEWAY = timedelta(seconds=60)


KEK_VARIABLE = "REGAUTH_KEK"


def key_store(
    settings: Settings, clock: Clock, environ: Mapping[str, str] | None = None
) -> KeyStore:
    """The configured key store: the key directory, or the database (``keys.store``)."""
    passphrase = None
    if settings.keys.passphrase_file is not None:
        passphrase = _read_secret_file(settings, settings.keys.passphrase_file, "passphrase_file")
    if settings.keys.store == "file":
        return KeyStore(settings.keys_dir, clock, passphrase)
    from regauth.store.key_material import DatabaseBlobs

    kek = key_encryption_key(settings, os.environ if environ is None else environ)
    db = Database(settings.database_url)
    blobs = DatabaseBlobs(db, kek, clock)
    return KeyStore.over(blobs, f"the database ({db.redacted_url()})", clock, passphrase)


def key_encryption_key(settings: Settings, environ: Mapping[str, str]) -> KeyEncryptionKey:
    """The KEK from ``keys.kek_file``, else from ``$REGAUTH_KEK``; ConfigError if neither."""
    from regauth.keys.sealing import KeyEncryptionKey

    if settings.keys.kek_file is not None:
        raw = _read_secret_file(settings, settings.keys.kek_file, "kek_file")
        try:
            return KeyEncryptionKey.parse(raw)
        except ConfigError as exc:
            raise ConfigError(exc.message, path="keys.kek_file") from None
    value = environ.get(KEK_VARIABLE, "")
    if not value:
        raise ConfigError(
            f'keys.store = "database" needs a key-encryption key: set keys.kek_file '
            f"or {KEK_VARIABLE} (make one with `regauth keys new-kek`)",
            path="keys.kek_file",
        )
    try:
        return KeyEncryptionKey.parse(value)
    except ConfigError as exc:
        raise ConfigError(f"{KEK_VARIABLE}: {exc.message}", path="keys.kek_file") from None


def _read_secret_file(settings: Settings, value: Path, field: str) -> bytes:
    path = settings.path(value)
    try:
        return path.read_bytes().rstrip(b"\r\n")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", path=f"keys.{field}") from None


def retire_grace(settings: Settings) -> timedelta:
    """A retired key verifies until every token it signed has expired (plus leeway)."""
    return timedelta(seconds=settings.token.ttl) + LEEWAY


def plans(settings: Settings) -> Plans | None:
    if not settings.plans:
        return None
    table = {
        name: tuple(
            PlanEntry(Pattern.compile(repo), entry.actions)
            for entry in settings.plan_entries(name)
            for repo in entry.repositories
        )
        for name in settings.plans
    }
    return Plans(table)


def token_policy(
    settings: Settings,
    *,
    policies: tuple[Stage, ...] = (),
    async_stages: tuple[AsyncStage, ...] = (),
) -> TokenPolicy:
    return TokenPolicy(
        issuer=settings.token.issuer,
        ttl=settings.token.ttl,
        services=frozenset(settings.token.services),
        config_rules=compile_rules(settings.rules),
        plans=plans(settings),
        plan_claim=settings.plan_claim,
        default_plan=settings.default_plan,
        license_claim=settings.license_claim,
        revoked_licenses=frozenset(settings.revoked_licenses),
        policies=policies,
        async_stages=async_stages,
        on_denied=settings.token.on_denied,
    )


Closer = Callable[[], Awaitable[None]]


async def _nothing() -> None:
    return None


def build_policy(
    settings: Settings, clock: Clock, registry: MetricRegistry, *, webhooks: bool = True
) -> tuple[TokenPolicy, Closer]:
    """Every configured stage, compiled once; the closer releases the webhook clients."""
    stage = None
    if webhooks and settings.auth.webhook:
        from regauth.authz.webhook import WebhookStage

        stage = WebhookStage.build(
            settings.auth.webhook,
            settings.global_.authorization_webhook,
            {k: v.authorization_webhook for k, v in settings.repository.items()},
            clock=clock,
            metrics=webhook_metrics(registry),
            base_dir=settings.base_dir,
        )
    policy = token_policy(
        settings, policies=policy_stages(settings), async_stages=(stage,) if stage else ()
    )
    return policy, stage.aclose if stage else _nothing


_WEBHOOK_METRICS: dict[int, Any] = {}


def webhook_metrics(registry: MetricRegistry) -> WebhookMetrics:
    """One set of webhook metrics per registry: a reload builds new stages, not new metrics."""
    from regauth.authz.webhook import WebhookMetrics

    found = _WEBHOOK_METRICS.get(id(registry))
    if found is None or found[0] is not registry:
        found = _WEBHOOK_METRICS[id(registry)] = (registry, WebhookMetrics(registry))
    metrics: WebhookMetrics = found[1]
    return metrics


def policy_stages(settings: Settings) -> tuple[Stage, ...]:
    """The pure policy stages after the plan: CEL access policies (seed 000)."""

    glob = settings.global_.access_policy
    if glob is None and not any(r.access_policy for r in settings.repository.values()):
        return ()
    from regauth.authz.cel import AccessPolicy, CelPolicies

    def policy(p: AccessPolicySettings) -> AccessPolicy:
        return AccessPolicy(p.default_allow, p.rules)

    repositories = {
        key: policy(repo.access_policy)
        for key, repo in settings.repository.items()
        if repo.access_policy is not None
    }
    cel = CelPolicies.build(policy(glob) if glob else None, repositories)
    return (cel,) if cel is not None else ()


def build_decider(
    settings: Settings, db: Database, clock: Clock, *, webhooks: bool = True
) -> tuple[Decider, Closer]:
    """A Decider over ``db`` with the configured stages; the closer releases HTTP clients."""
    from regauth.events.approvals import Approvals
    from regauth.ports import SystemRandom

    policy, close = build_policy(settings, clock, MetricRegistry(), webhooks=webhooks)
    grants = ActiveGrants(Approvals(db, clock, SystemRandom()).live, clock, 0)
    rules = DatabaseRules(RuleStore(db, clock), clock)
    return Decider(lambda: policy, rules, clock, grants), close


class ApiKeyHolder:
    """The API-key source, swapped as a whole when the configuration is reloaded."""

    name = "apikey"

    def __init__(self, current: ApiKeys) -> None:
        self.current = current

    async def authenticate(self, credential: Credential, facts: CallerFacts) -> Outcome:
        return await self.current.authenticate(credential, facts)


class KeyringHolder:
    """Holds the current key ring and signer; swaps both atomically on change."""

    def __init__(self, store: KeyStore, settings: Settings, clock: Clock) -> None:
        self._store = store
        self._settings = settings
        self._clock = clock
        self._state = store.state_token()
        self._keyring = store.load(settings.keys.kid)
        self._signer = TokenSigner(self._keyring, x5c=settings.keys.x5c)

    @property
    def keyring(self) -> Keyring:
        return self._keyring

    def close(self) -> None:
        self._store.close()

    @property
    def signer(self) -> TokenSigner:
        return self._signer

    def refresh(self) -> bool:
        """Reload when the directory changed or a retired key ran out; True if swapped."""
        try:
            state = self._store.state_token()
        except OSError as exc:  # the database holding the keys is unreachable
            log.error("key reload check failed, keeping the current keys: %s", exc.strerror)
            return False
        if state == self._state and not self._retired_key_expired():
            return False
        try:
            keyring = self._store.load(self._settings.keys.kid)
        except ConfigError as exc:
            log.error("key reload failed, keeping the current keys: %s", exc)
            return False
        self._keyring, self._signer, self._state = (
            keyring,
            TokenSigner(keyring, x5c=self._settings.keys.x5c),
            state,
        )
        log.info("signing keys reloaded: current %s", keyring.current.key_id)
        return True

    def _retired_key_expired(self) -> bool:
        now = self._clock.now()
        return any(
            k.valid_until is not None and k.valid_until <= now for k in self._keyring.previous
        )

    async def watch(self) -> None:
        while True:
            await anyio.sleep(self._settings.keys.reload_interval)
            await anyio.to_thread.run_sync(self.refresh)

    async def rotate_on_schedule(self) -> None:
        """Automatic leaf rotation on ``keys.rotate_cron`` (one process wins each tick)."""
        cron = self._settings.keys.rotate_cron
        if not cron:
            return
        from croniter import croniter  # only when a schedule is configured

        while True:
            due: datetime = croniter(cron, self._clock.now()).get_next(datetime)
            await anyio.sleep(max(0.0, (due - self._clock.now()).total_seconds()))
            rotated = await anyio.to_thread.run_sync(self._rotate_if_due, due)
            if rotated:
                log.info("scheduled key rotation done (due %s)", due.isoformat())
            await anyio.to_thread.run_sync(self.refresh)

    def _rotate_if_due(self, due: datetime) -> bool:
        grace = retire_grace(self._settings)
        return self._store.rotate_if_due(due, grace=grace, days=self._settings.keys.leaf_days)


async def start_ui(
    settings: Settings, db: Database, clock: Clock, random: Random, password: PasswordSignIn
) -> UiServices | None:
    """The web UI's sessions and sign-in methods; None when ``ui.enabled`` is false."""
    ui = settings.ui
    if not ui.enabled:
        return None
    from regauth.store.ui_sessions import UiSessionStore

    store = UiSessionStore(db)
    sessions = BrowserSessions(store, clock, random, ttl=ui.session_ttl, idle=ui.idle_ttl)
    oidc = None
    if ui.oidc is not None:
        from regauth.authn.oidc_login import OidcSignIn

        oidc = await OidcSignIn.start(
            ui.oidc, base_dir=settings.base_dir, store=store, clock=clock, random=random
        )
    return UiServices(sessions, password, clock, random, oidc)


@dataclass
class Runtime:
    settings: Settings
    db: Database
    users: UserStore
    groups: GroupStore
    tokens: TokenStore
    hasher: PasswordHasher
    keys: KeyringHolder
    service: TokenService
    decider: Decider
    audit: DatabaseAudit
    rules: RuleStore

    closers: list[Closer]

    oidc: OidcAuthenticator | None = None  # optional backends are imported only when configured
    api_keys: ApiKeyHolder | None = None
    retention: AuditRetention | None = None
    events: EventsRuntime | None = None
    account_rules: DatabaseRules | None = None  # the cached, indexed rules the decider reads
    ui: UiServices | None = None

    @classmethod
    async def start(
        cls,
        settings: Settings,
        clock: Clock,
        random: Random,
        registry: MetricRegistry | None = None,
    ) -> Runtime:
        db = Database(settings.database_url)
        ttl = settings.database.cache_seconds
        registry = registry or MetricRegistry()
        events = EventsRuntime.build(settings, db, clock, random, registry)
        users, tokens = CachedUsers(db, clock, ttl), CachedTokens(db, clock, ttl)
        groups = GroupStore(db, clock)
        p = settings.passwords
        hasher = PasswordHasher(
            time_cost=p.time_cost, memory_cost=p.memory_cost, parallelism=p.parallelism
        )
        keys = KeyringHolder(key_store(settings, clock), settings, clock)
        refresh = RefreshTokens(tokens, users, clock, random, settings.token.refresh_ttl)
        pats = PersonalTokens(tokens, users, clock)
        local = LocalUsers(users, hasher, clock, cache_ttl=p.cache_ttl, cache_size=p.cache_size)
        api_keys = ApiKeyHolder(ApiKeys.build(settings.auth.api_keys, os.environ))
        sources: list[Authenticator] = [api_keys, pats, local, ClientCertificates(clock)]
        passwords: list[Authenticator] = [local]  # what the web UI's sign-in form accepts
        closers: list[Closer] = [local.aclose]  # renewals of remembered logins under way
        if settings.auth.ldap is not None:
            from regauth.authn.ldap import LdapAuthenticator

            ldap = LdapAuthenticator.build(settings.auth.ldap, base_dir=settings.base_dir)
            sources.append(ldap)
            passwords.append(ldap)
            closers.append(ldap.aclose)
        oidc = None
        if settings.auth.oidc:
            from regauth.authn.oidc import OidcAuthenticator
            from regauth.store.replay import DatabaseReplayCache

            replay = DatabaseReplayCache(db, clock)
            oidc = await OidcAuthenticator.start(settings.auth.oidc, clock=clock, replay=replay)
            sources.append(oidc)
            closers.append(oidc.aclose)
        registry = registry or MetricRegistry()
        identity = IdentityChain([*sources, refresh], attempts_counter(registry))
        policy, close_policy = build_policy(settings, clock, registry)
        closers.append(close_policy)
        rules = RuleStore(db, clock)
        grants = ActiveGrants(events.approvals.live, clock, ttl)
        closers.append(grants.aclose)
        account_rules = DatabaseRules(rules, clock, ttl)
        decider = Decider(lambda: policy, account_rules, clock, grants)
        spool = None
        if settings.audit.spool:
            spool = Spool(
                settings.path(settings.audit.spool_dir),
                wait_for_fsync=settings.audit.spool_fsync == "before_answer",
                sync_interval=settings.audit.spool_fsync_interval,
            )
        # The outbox rides the audit batches only when token or login events are subscribed.
        also = events.on_audit_write if events.audit_types else None
        audit_store = AuditStore(db, also=also)
        audit = DatabaseAudit(audit_store, log_lines=settings.log.audit, spool=spool)
        throttle = Throttle.build(db, settings.auth.throttle, clock, cache_seconds=ttl)
        ui = await start_ui(settings, db, clock, random, PasswordSignIn(passwords, throttle))
        if ui is not None and ui.oidc is not None:
            closers.append(ui.oidc.aclose)
        service = TokenService(
            policy=lambda: policy,
            identity=identity,
            decider=decider,
            signer=lambda: keys.signer,
            refresh=refresh,
            audit=audit,
            clock=clock,
            random=random,
            throttle=throttle,
        )
        return cls(
            settings,
            db,
            users,
            groups,
            tokens,
            hasher,
            keys,
            service,
            decider,
            audit,
            rules,
            closers,
            oidc,
            api_keys,
            AuditRetention(
                AuditStore(db),
                clock,
                days=settings.audit.retention_days,
                interval=settings.audit.prune_interval,
            ),
            events,
            account_rules,
            ui=ui,
        )

    async def write_behind(self) -> None:
        """Background task: write what the hot path only remembered (token uses), every second."""
        while True:
            await anyio.sleep(1.0)
            # A write cut short by cancellation would leave its connection checked out.
            with anyio.CancelScope(shield=True):
                await self.tokens.flush_uses()

    def forget_cached(self) -> None:
        """Drop this process's read caches: an admin change made here shows here at once
        (other processes see it within ``database.cache_seconds``)."""
        for store in (self.users, self.tokens):
            if isinstance(store, CachedUsers | CachedTokens):
                store.forget()
        if self.account_rules is not None:
            self.account_rules.forget()

    async def close(self) -> None:
        for close in self.closers:
            await close()
        for store in (self.users, self.tokens, self.account_rules):
            if isinstance(store, CachedUsers | CachedTokens | DatabaseRules):
                await store.aclose()  # reloads under way, before the database goes
        await self.audit.close()
        await self.tokens.flush_uses()
        if self.events is not None:
            await self.events.aclose()
        await self.db.dispose()
        await anyio.to_thread.run_sync(self.keys.close)
