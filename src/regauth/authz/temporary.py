"""Temporary grants for the token pipeline: every live grant, loaded at most once per TTL.

One query serves every subject (grants are few); with ``ttl`` 0 each
decision reads the database. An approval, expiry or revocation is therefore
honoured within ``database.cache_seconds`` by every worker. The pure stage
(:mod:`regauth.domain.grants`) checks the expiry time itself, so a cached
grant never outlives its window. Once the snapshot is half a TTL old, the
next decision starts the reload in a task of its own and goes on with the
snapshot, which counts until its TTL ends: under steady traffic no decision
waits for the query.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime

import anyio

from regauth.domain.grants import TemporaryGrant
from regauth.ports import Clock
from regauth.tasks import BackgroundTasks

Loader = Callable[[datetime], Awaitable[Mapping[str, tuple[TemporaryGrant, ...]]]]
log = logging.getLogger("regauth.authz")


class ActiveGrants:
    def __init__(
        self, load: Loader, clock: Clock, ttl: float, *, refresh_after: float = 0.5
    ) -> None:
        """``refresh_after``: the fraction of ``ttl`` after which a decision also reloads
        in the background (1 or more: never)."""
        self._load = load
        self._clock = clock
        self._ttl = ttl
        self._refresh = ttl * refresh_after if refresh_after < 1 else None
        self._snapshot: Mapping[str, tuple[TemporaryGrant, ...]] = {}
        self._loaded_at: float | None = None
        self._lock = anyio.Lock()
        self._reloads = BackgroundTasks()  # at most one

    async def active(self, subject: str, now: datetime) -> tuple[TemporaryGrant, ...]:
        stamp = now.timestamp()
        if self._stale(stamp):
            async with self._lock:
                if self._stale(stamp):
                    await self._fill(now, stamp)
        elif self._due(stamp) and not self._reloads:
            self._reloads.spawn(self._refill(now, stamp))
        grants = self._snapshot.get(subject)
        if not grants:  # the usual case: nobody approved anything for this subject
            return ()
        at = int(stamp)
        return tuple(g for g in grants if at < g.expires_at)

    def _stale(self, stamp: float) -> bool:
        return self._loaded_at is None or stamp - self._loaded_at >= self._ttl

    def _due(self, stamp: float) -> bool:
        loaded = self._loaded_at
        return self._refresh is not None and loaded is not None and stamp - loaded >= self._refresh

    async def _fill(self, now: datetime, stamp: float) -> None:
        self._snapshot = await self._load(now)
        self._loaded_at = stamp

    async def _refill(self, now: datetime, stamp: float) -> None:
        """The background reload: decisions reaching the TTL meanwhile wait on the lock."""
        try:
            async with self._lock:
                if self._due(stamp):
                    await self._fill(now, stamp)
        except Exception as exc:  # the snapshot ends at its TTL; the next load reports
            log.debug("reloading temporary grants failed: %s", type(exc).__name__)

    async def aclose(self) -> None:
        """Cancel a reload under way."""
        await self._reloads.aclose()
