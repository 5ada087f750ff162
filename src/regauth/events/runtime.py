"""Events, wired: outbox, delivery worker, registry notifications, approvals, metrics.

Built once per runtime (:meth:`EventsRuntime.build`, from the settings and
the environment for ``secret_env``); a reload builds a new one. Metrics are
created once per Prometheus registry and shared by every runtime.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from regauth.config import Settings
from regauth.config.events import resolve_secret
from regauth.events.approvals import Approvals
from regauth.events.delivery import DeliveryMetrics, DeliveryWorker, Endpoint
from regauth.events.outbox import Outbox, enqueue_many, event_row
from regauth.events.registry import RegistryEvents
from regauth.metrics import Counter, MetricRegistry
from regauth.ports import Clock, Random
from regauth.store import Database

# Codes of a failed login (an identity source refused the credential) rather than a denial.
_NOT_LOGIN = frozenset(
    {
        "auth.scope_denied",
        "auth.license_revoked",
        "auth.jwks_unavailable",
        "auth.backend_unavailable",
    }
)


class EventMetrics:
    def __init__(self, registry: MetricRegistry) -> None:
        self.delivery = DeliveryMetrics(registry)
        self.registry_events = Counter(
            registry,
            "regauth_registry_events_total",
            "Registry notifications stored, by action (replays not counted)",
            ["action"],
        )


_METRICS: dict[int, tuple[MetricRegistry, EventMetrics]] = {}


def event_metrics(registry: MetricRegistry) -> EventMetrics:
    found = _METRICS.get(id(registry))
    if found is None or found[0] is not registry:
        found = _METRICS[id(registry)] = (registry, EventMetrics(registry))
    return found[1]


def audit_event_type(row: Mapping[str, object]) -> str:
    """The event type of one audit row (a token decision)."""
    code = str(row.get("error_code") or "")
    if row.get("outcome") == "issued" and not code:
        return "token.issued"
    if code == "auth.throttled":
        return "login.throttled"
    if code.startswith("auth.") and code not in _NOT_LOGIN:
        return "login.failed"
    return "token.denied"


@dataclass
class EventsRuntime:
    outbox: Outbox
    worker: DeliveryWorker
    registry: RegistryEvents
    approvals: Approvals
    metrics: EventMetrics
    random: Random
    clock: Clock
    registry_header: str = "authorization"
    registry_expected: bytes | None = field(default=None, repr=False)
    registry_secret: bytes | None = field(default=None, repr=False)  # for the setup page
    approval_enabled: bool = False
    signature_header: str = "x-regauth-signature"
    audit_types: frozenset[str] = frozenset()

    @classmethod
    def build(
        cls,
        settings: Settings,
        db: Database,
        clock: Clock,
        random: Random,
        registry: MetricRegistry,
        environ: Mapping[str, str] | None = None,
    ) -> EventsRuntime:
        env = os.environ if environ is None else environ
        ev = settings.events
        metrics = event_metrics(registry)
        endpoints = [
            Endpoint.build(name, w, env, settings.base_dir) for name, w in ev.webhook.items()
        ]
        outbox = Outbox(db)
        approvals_secret = resolve_secret(ev.approval, env, "events.approval")
        holder: list[DeliveryWorker] = []
        approvals = Approvals(
            db,
            clock,
            random,
            service=ev.approval.service,
            secrets=(approvals_secret,) if approvals_secret else (),
            tolerance=ev.approval.tolerance,
            max_duration=ev.approval.max_duration,
            notify=lambda: holder[0].nudge(),
        )
        worker = DeliveryWorker(
            outbox,
            endpoints,
            ev.delivery,
            clock=clock,
            random=random,
            metrics=metrics.delivery,
            sweeps=(approvals.expire, _pruner(outbox, ev.delivery.retention_days)),
        )
        holder.append(worker)
        secret = resolve_secret(ev.registry, env, "events.registry")
        header = ev.registry.header.lower()
        expected = None
        if secret is not None:
            expected = b"Bearer " + secret if header == "authorization" else secret
        return cls(
            outbox,
            worker,
            RegistryEvents(db, random),
            approvals,
            metrics,
            random,
            clock,
            registry_header=header,
            registry_expected=expected,
            registry_secret=secret,
            approval_enabled=ev.approval.enabled,
            signature_header=ev.approval.signature_header.lower(),
            audit_types=ev.subscribed_types() & _AUDIT_TYPES,
        )

    def registry_sender_ok(self, value: str | None) -> bool:
        """The static header the registry sends, compared in constant time."""
        if self.registry_expected is None or value is None:
            return False
        return hmac.compare_digest(value.encode(), self.registry_expected)

    async def on_audit_write(
        self, conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]
    ) -> None:
        """Token and login events ride the audit batch's transaction (subscribed types only)."""
        if not self.audit_types:
            return
        out = []
        for row in rows:
            type = audit_event_type(row)
            if type in self.audit_types:
                data = orjson.loads(str(row["document"]))
                at = row["at"]
                out.append(event_row(self.random.token_hex(16), type, at, data))
        await enqueue_many(conn, out)
        if out:
            self.worker.nudge()

    async def aclose(self) -> None:
        await self.worker.aclose()


_AUDIT_TYPES = frozenset({"token.issued", "token.denied", "login.failed", "login.throttled"})


def _pruner(outbox: Outbox, days: float) -> Callable[[datetime], Awaitable[int]]:
    async def prune(now: datetime) -> int:
        return await outbox.prune(now - timedelta(days=days))

    return prune
