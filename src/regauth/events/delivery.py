"""The delivery worker: route new events, claim due deliveries, POST them signed, settle.

One worker runs in every serving process (started with the runtime); the
outbox's leases coordinate workers across processes and replicas. Each
attempt is an HTTP POST of the stored JSON body with

    Content-Type: application/json
    X-Regauth-Event-Id: <event id>           (the same on every retry: deduplicate on it)
    X-Regauth-Event-Type: <type>
    X-Regauth-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">

A 2xx answer delivers; anything else, a timeout or a connection error is a
failure retried on the schedule (:mod:`regauth.events.retry`), then dead.
Failure text is a status or an exception class name, never a secret.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import anyio

from regauth.config.events import DeliverySettings, EventWebhookSettings, resolve_secret
from regauth.events.outbox import Claimed, Outbox
from regauth.events.retry import next_attempt
from regauth.events.signature import sign
from regauth.metrics import Counter, Gauge, MetricRegistry
from regauth.ports import Clock, Random

log = logging.getLogger("regauth.events")
Sweep = Callable[[datetime], Awaitable[int]]
SWEEP_SECONDS = 5.0  # expiry of temporary grants, old replay records
# The backlog gauges are re-read after every round that attempted deliveries and at
# least this often otherwise (two counting queries: an idle worker skips them).
BACKLOG_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One ``[events.webhook.NAME]``, ready: secret resolved, TLS context built."""

    name: str
    url: str
    secret: bytes = field(repr=False)
    patterns: tuple[str, ...]
    timeout: float
    tls: ssl.SSLContext | None = field(default=None, repr=False)
    wants: Callable[[str], bool] = field(default=lambda _t: False, repr=False, compare=False)

    @classmethod
    def build(
        cls, name: str, s: EventWebhookSettings, environ: Mapping[str, str], base_dir: Path
    ) -> Endpoint:
        path = f"events.webhook.{name}"
        secret = resolve_secret(s, environ, path)
        assert secret is not None  # the settings model requires one
        tls = _tls(s, base_dir, path)
        return cls(name, s.url, secret, s.events, s.timeout_ms / 1000, tls, s.wants)


def _tls(s: EventWebhookSettings, base_dir: Path, path: str) -> ssl.SSLContext | None:
    if not s.custom_tls:
        return None
    from regauth.authz.webhook_client import client_tls

    return client_tls(s, base_dir, path)


class DeliveryMetrics:
    def __init__(self, registry: MetricRegistry) -> None:
        self.deliveries = Counter(
            registry,
            "regauth_event_deliveries_total",
            "Event delivery attempts by webhook and result (delivered, failed, dead)",
            ["webhook", "result"],
        )
        self.depth = Gauge(
            registry, "regauth_outbox_depth", "Events waiting for delivery (all workers)"
        )
        self.oldest = Gauge(
            registry,
            "regauth_outbox_oldest_pending_seconds",
            "Age of the oldest event waiting for delivery",
        )


class DeliveryWorker:
    def __init__(
        self,
        outbox: Outbox,
        endpoints: Sequence[Endpoint],
        settings: DeliverySettings,
        *,
        clock: Clock,
        random: Random,
        metrics: DeliveryMetrics,
        sweeps: Sequence[Sweep] = (),
    ) -> None:
        self._outbox = outbox
        self._endpoints = {e.name: e for e in endpoints}
        self._settings = settings
        self._clock = clock
        self._random = random
        self._metrics = metrics
        self._sweeps = sweeps
        self._wake = anyio.Event()
        self._swept: datetime | None = None
        self._counted: datetime | None = None  # when the backlog gauges were last read
        if endpoints:  # httpx is imported only by a server that has event webhooks
            import httpx
        self._clients = {
            e.name: httpx.AsyncClient(
                timeout=e.timeout,
                verify=e.tls if e.tls is not None else True,
                trust_env=False,
                follow_redirects=False,
            )
            for e in endpoints
        }

    def nudge(self) -> None:
        """Something was enqueued here: look now instead of at the next poll."""
        self._wake.set()

    def _wants(self, event_type: str) -> list[str]:
        return [e.name for e in self._endpoints.values() if e.wants(event_type)]

    async def run_once(self) -> int:
        """One round: sweeps, routing, one batch of deliveries. Returns deliveries attempted.

        Database work is shielded from cancellation (a shutdown waits for the
        statement instead of abandoning a driver call halfway); the POSTs are
        not: a delivery cut short stays leased and is tried again later.
        """
        with anyio.CancelScope(shield=True):
            claimed = await self._prepare()
        limiter = anyio.CapacityLimiter(self._settings.concurrency)
        async with anyio.create_task_group() as tasks:
            for item in claimed:
                tasks.start_soon(self._attempt, item, limiter)
        now = self._clock.now()
        stale = self._counted is None or (now - self._counted).total_seconds() >= BACKLOG_SECONDS
        if claimed or stale:
            self._counted = now
            with anyio.CancelScope(shield=True):
                depth, age = await self._outbox.backlog(now)
            self._metrics.depth.set(depth)
            self._metrics.oldest.set(age)
        return len(claimed)

    async def _prepare(self) -> list[Claimed]:
        now = self._clock.now()
        if self._swept is None or (now - self._swept).total_seconds() >= SWEEP_SECONDS:
            self._swept = now
            for sweep in self._sweeps:
                await sweep(now)
        if not await self._outbox.due(now):
            return []
        while await self._outbox.route(self._wants, now) > 0:
            pass
        lease = timedelta(seconds=self._settings.lease_seconds)
        return await self._outbox.claim(
            now, lease, self._random.token_hex(16), self._settings.batch
        )

    async def run(self) -> None:
        """Forever: rounds back to back while there is work, else wait for a nudge or the poll."""
        while True:
            self._wake = anyio.Event()
            try:
                busy = await self.run_once()
            except Exception:  # the database may be down: log, wait, try again
                log.exception("event delivery round failed; retrying")
                busy = 0
            if busy:
                continue
            with anyio.move_on_after(self._settings.poll_interval):
                await self._wake.wait()

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()

    async def _attempt(self, item: Claimed, limiter: anyio.CapacityLimiter) -> None:
        async with limiter:
            endpoint = self._endpoints.get(item.endpoint)
            if endpoint is None:  # removed from the configuration: keep it for later
                error, retry_after = "endpoint not configured", None
            else:
                error, retry_after = await self._post(endpoint, item)
        with anyio.CancelScope(shield=True):
            await self._settle(item, error, retry_after)

    async def _settle(self, item: Claimed, error: str, retry_after: float | None) -> None:
        now = self._clock.now()
        if not error:
            await self._outbox.settle(item, now=now, delivered=True, retry_at=None)
            self._metrics.deliveries.labels(item.endpoint, "delivered").inc()
            return
        draw = int(self._random.token_hex(4), 16) / 2**32
        retry_at = next_attempt(
            item.attempts + 1,
            self._settings.retry_schedule,
            now,
            jitter=self._settings.jitter,
            draw=draw,
            retry_after=retry_after,
        )
        await self._outbox.settle(item, now=now, delivered=False, retry_at=retry_at, error=error)
        result = "dead" if retry_at is None else "failed"
        self._metrics.deliveries.labels(item.endpoint, result).inc()
        if retry_at is None:
            log.warning("event %s to %s dead-lettered: %s", item.event_id, item.endpoint, error)

    async def _post(self, endpoint: Endpoint, item: Claimed) -> tuple[str, float | None]:
        t = int(self._clock.now().timestamp())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "regauth-events",
            "X-Regauth-Event-Id": item.event_id,
            "X-Regauth-Event-Type": item.type,
            "X-Regauth-Signature": sign(endpoint.secret, t, item.body),
        }
        import httpx  # loaded already: there is an endpoint

        try:
            response = await self._clients[endpoint.name].post(
                endpoint.url, content=item.body, headers=headers
            )
        except (httpx.HTTPError, OSError) as exc:
            # OSError: with TLS 1.3 a server's refusal of the client certificate can come
            # on the first read after the handshake, and httpcore lets that ssl.SSLError
            # through unwrapped; it is a failed attempt like any other (retried, then
            # dead-lettered), not an error that ends the whole round.
            return type(exc).__name__, None
        if 200 <= response.status_code < 300:
            return "", None
        return f"HTTP {response.status_code}", _retry_after(response.headers.get("retry-after"))


def _retry_after(value: str | None) -> float | None:
    if value is not None and value.strip().isdigit():
        return float(value.strip())
    return None
