"""Temporary grants for the token pipeline: every live grant, loaded at most once per TTL.

One query serves every subject (grants are few); with ``ttl`` 0 each
decision reads the database. An approval, expiry or revocation is therefore
honoured within ``database.cache_seconds`` by every worker. The pure stage
(:mod:`regauth.domain.grants`) checks the expiry time itself, so a cached
grant never outlives its window.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime

import anyio

from regauth.domain.grants import TemporaryGrant
from regauth.ports import Clock

Loader = Callable[[datetime], Awaitable[Mapping[str, tuple[TemporaryGrant, ...]]]]


class ActiveGrants:
    def __init__(self, load: Loader, clock: Clock, ttl: float) -> None:
        self._load = load
        self._clock = clock
        self._ttl = ttl
        self._snapshot: Mapping[str, tuple[TemporaryGrant, ...]] = {}
        self._loaded_at: float | None = None
        self._lock = anyio.Lock()

    async def active(self, subject: str, now: datetime) -> tuple[TemporaryGrant, ...]:
        stamp = now.timestamp()
        if self._stale(stamp):
            async with self._lock:
                if self._stale(stamp):
                    self._snapshot = await self._load(now)
                    self._loaded_at = stamp
        grants = self._snapshot.get(subject)
        if not grants:  # the usual case: nobody approved anything for this subject
            return ()
        at = int(stamp)
        return tuple(g for g in grants if at < g.expires_at)

    def _stale(self, stamp: float) -> bool:
        return self._loaded_at is None or stamp - self._loaded_at >= self._ttl
