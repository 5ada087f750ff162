"""Stage 6: authorization webhooks (SPEC §4.6, seed 000).

For each ``repository`` resource, the webhook assigned to its name is asked
once per action still granted, with an HTTP GET carrying seed 000's headers:

* ``X-Forwarded-Method|Proto|Host|Uri|For`` describe the *token request*
  (method, scheme, ``host[:port]``, path, client address);
* ``X-Registry-Action`` is the scope action (``pull``, ``push``, ``delete``,
  ``*``), ``X-Registry-Namespace`` the repository name.
  ``X-Registry-Reference`` and ``X-Registry-Digest`` are never sent: a token
  is issued before the registry request, so no tag or digest is known yet;
* when authenticated, ``X-Registry-Username`` (subject),
  ``X-Registry-Identity-ID`` (token id, else subject) and
  ``X-Registry-Certificate-CN|O`` (from the ``certificate_cn`` /
  ``certificate_o`` claims, comma-joined, only when present);
* the configured ``forward_headers`` copied from the client request, then the
  configured credential (``Bearer`` or ``Basic``), which replaces a forwarded
  ``Authorization``.

2xx allows the action; any other status, a timeout or an error denies it
(fail closed, logged at WARNING with the webhook name and the kind of
failure only). Answers are cached per (webhook, identity, action, repository,
forwarded header values) for ``cache_ttl`` seconds of the injected clock.

Assignment: ``[repository."KEY"] authorization_webhook`` — a key matches a
name equal to it or below it (``KEY/…``); a key with ``*`` is a glob. The
longest matching key decides: ``""`` disables, a name selects that webhook,
no value falls back to ``[global] authorization_webhook``.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import anyio

from regauth.authz.webhook_client import Headers, Verdict, WebhookClient, load_tls
from regauth.config.webhooks import WebhookSettings
from regauth.domain.patterns import Pattern, PatternError
from regauth.domain.policy import Grant
from regauth.domain.principal import Principal
from regauth.domain.rules import RequestContext
from regauth.errors import ConfigError
from regauth.metrics import Counter, Histogram, MetricRegistry
from regauth.ports import CallerFacts, Clock

__all__ = ["WebhookMetrics", "WebhookStage"]

CACHE_LIMIT = 10_000
CacheKey = tuple[str, tuple[str, str | None, str], str, str, tuple[str | None, ...]]


class WebhookMetrics:
    """``webhook_authorization_requests_total{webhook,result}`` and the call latency."""

    def __init__(self, registry: MetricRegistry) -> None:
        self.requests = Counter(
            registry,
            "webhook_authorization_requests",
            "Authorization webhook decisions by result (cached ones included).",
            ("webhook", "result"),
        )
        self.duration = Histogram(
            registry,
            "webhook_authorization_duration_seconds",
            "Duration of authorization webhook calls (cached answers excluded).",
            ("webhook",),
        )


class DecisionCache:
    """Bounded TTL cache of webhook answers; the oldest entry goes first when full."""

    def __init__(self, clock: Clock, limit: int = CACHE_LIMIT) -> None:
        self._clock = clock
        self._limit = limit
        self._entries: OrderedDict[CacheKey, tuple[datetime, Verdict]] = OrderedDict()

    def get(self, key: CacheKey) -> Verdict | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self._clock.now() >= entry[0]:
            del self._entries[key]
            return None
        return entry[1]

    def put(self, key: CacheKey, verdict: Verdict, ttl: int) -> None:
        self._entries.pop(key, None)
        while len(self._entries) >= self._limit:
            self._entries.popitem(last=False)
        self._entries[key] = (self._clock.now() + timedelta(seconds=ttl), verdict)


@dataclass(frozen=True, slots=True)
class Route:
    """One ``[repository."KEY"]``: ``webhook`` is a name, ``""`` (off) or None (global)."""

    key: str
    webhook: str | None
    glob: Pattern | None = None

    def matches(self, name: str) -> bool:
        if self.glob is not None:
            return self.glob.matches(name)
        return name == self.key or name.startswith(f"{self.key}/")


@dataclass(frozen=True, slots=True)
class Routes:
    """Which webhook (if any) decides for a repository name."""

    routes: tuple[Route, ...]  # longest key first
    default: str

    @classmethod
    def compile(cls, repositories: Mapping[str, str | None], default: str) -> Routes:
        routes = [_route(key, value) for key, value in repositories.items()]
        routes.sort(key=lambda r: len(r.key), reverse=True)  # stable: file order breaks ties
        return cls(tuple(routes), default)

    def webhook_for(self, name: str) -> str | None:
        route = next((r for r in self.routes if r.matches(name)), None)
        chosen = self.default if route is None or route.webhook is None else route.webhook
        return chosen or None

    def used(self) -> frozenset[str]:
        names = {self.default, *(r.webhook for r in self.routes if r.webhook is not None)}
        return frozenset(names - {""})


def _route(key: str, webhook: str | None) -> Route:
    if "*" not in key:
        return Route(key, webhook)
    try:
        return Route(key, webhook, Pattern.compile(key))
    except PatternError as exc:
        raise ConfigError(str(exc), path=f'repository."{key}"') from None


def _check_names(
    webhooks: Mapping[str, WebhookSettings], default: str, repositories: Mapping[str, str | None]
) -> None:
    if default and default not in webhooks:
        raise ConfigError(_unknown(default), path="global.authorization_webhook")
    for key, name in repositories.items():
        if name and name not in webhooks:
            raise ConfigError(_unknown(name), path=f'repository."{key}".authorization_webhook')


def _unknown(name: str) -> str:
    return f'no webhook named "{name}" is defined under [auth.webhook]'


def _identity(principal: Principal) -> tuple[str, str | None, str]:
    return (principal.subject, principal.token_id, principal.source)


class WebhookStage:
    """The async stage asking authorization webhooks (satisfies ``regauth.ports.AsyncStage``)."""

    def __init__(
        self,
        clients: Mapping[str, WebhookClient],
        routes: Routes,
        *,
        clock: Clock,
        metrics: WebhookMetrics,
    ) -> None:
        self._clients = dict(clients)
        self._routes = routes
        self._metrics = metrics
        self._cache = DecisionCache(clock)

    @property
    def name(self) -> str:
        return "webhook"

    @classmethod
    def build(
        cls,
        webhooks: Mapping[str, WebhookSettings],
        global_webhook: str,
        repositories: Mapping[str, str | None],
        *,
        clock: Clock,
        metrics: WebhookMetrics,
        base_dir: Path,
    ) -> WebhookStage | None:
        """Validate the assignment, load TLS files, open one client per assigned webhook.

        Returns None when no webhook is assigned anywhere. Raises ConfigError
        naming the dotted path of an unknown webhook or an unusable file.
        """
        _check_names(webhooks, global_webhook, repositories)
        routes = Routes.compile(repositories, global_webhook)
        used = sorted(routes.used())
        if not used:
            return None
        # Every file is loaded before any client is opened: an error leaves nothing to close.
        contexts = {n: load_tls(n, webhooks[n], base_dir) for n in used}
        clients = {n: WebhookClient(n, webhooks[n], contexts[n]) for n in used}
        return cls(clients, routes, clock=clock, metrics=metrics)

    async def apply(self, grant: Grant, ctx: RequestContext, facts: CallerFacts) -> Grant:
        """Narrow a repository grant to the actions its webhook allows; others pass unchanged."""
        resource = grant.requested.resource
        name = self._routes.webhook_for(resource.name) if resource.type == "repository" else None
        if name is None or not grant.actions:
            return grant
        client = self._clients[name]
        verdicts = await self._decide_all(client, grant.actions, resource.name, ctx, facts)
        allowed = [a for a in grant.actions if verdicts[a].allowed]
        return grant.narrow(self.name, allowed, _reason(name, grant.actions, verdicts))

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()

    async def _decide_all(
        self,
        client: WebhookClient,
        actions: Sequence[str],
        namespace: str,
        ctx: RequestContext,
        facts: CallerFacts,
    ) -> dict[str, Verdict]:
        verdicts: dict[str, Verdict] = {}

        async def decide(action: str) -> None:
            verdicts[action] = await self._decide(client, action, namespace, ctx.principal, facts)

        async with anyio.create_task_group() as group:
            for action in actions:
                group.start_soon(decide, action)
        return verdicts

    async def _decide(
        self,
        client: WebhookClient,
        action: str,
        namespace: str,
        principal: Principal,
        facts: CallerFacts,
    ) -> Verdict:
        key = (client.name, _identity(principal), action, namespace, client.forwarded(facts))
        cached = self._cache.get(key) if client.cache_ttl else None
        if cached is not None:
            verdict = cached.as_cached()
        else:
            verdict = await self._call(client, client.headers(action, namespace, principal, facts))
            if client.cache_ttl and verdict.cacheable:
                self._cache.put(key, verdict, client.cache_ttl)
        self._metrics.requests.labels(client.name, verdict.result).inc()
        return verdict

    async def _call(self, client: WebhookClient, headers: Headers) -> Verdict:
        started = time.perf_counter()
        try:
            return await client.ask(headers)
        finally:
            self._metrics.duration.labels(client.name).observe(time.perf_counter() - started)


def _reason(name: str, actions: Sequence[str], verdicts: Mapping[str, Verdict]) -> str:
    """``webhook "quotas": pull allowed (200), push denied (timeout)``."""
    parts = (
        f"{a} {'allowed' if verdicts[a].allowed else 'denied'} ({verdicts[a].detail})"
        for a in actions
    )
    return f'webhook "{name}": {", ".join(parts)}'
