"""Short-lived read caches in front of the repositories the hot path reads.

A token request for an authenticated caller would otherwise make several
database round trips (the user, its token, its rules, its failure
counters), each costing a thread hop and a transaction. Instead each process
keeps what it read for ``ttl`` seconds (``database.cache_seconds``, default
1): a password change, a disabled account, a revoked token or a new rule —
made by the CLI or by another worker — is honoured everywhere within that
bound. Writes made through a wrapper drop the affected entry at once.
Entries are bounded (least recently used go first); ``ttl = 0`` disables.
Concurrent misses on one key make one load (:class:`~regauth.singleflight.SingleFlight`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from regauth.ports import Clock
from regauth.singleflight import SingleFlight
from regauth.store.database import Database
from regauth.store.records import TokenRecord, UserRecord
from regauth.store.tokens import TokenStore
from regauth.store.users import UserStore

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ReadCache(Generic[K, V]):
    def __init__(self, clock: Clock, ttl: float, size: int = 10_000) -> None:
        self._clock = clock
        self._ttl = timedelta(seconds=ttl)
        self._size = size
        self._entries: OrderedDict[K, tuple[datetime, V]] = OrderedDict()
        self._loads: SingleFlight[K] = SingleFlight()
        self._enabled = self._ttl > timedelta(0) and self._size > 0

    @property
    def enabled(self) -> bool:
        return self._enabled

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        if not self._enabled:
            return await load()
        while True:
            now = self._clock.now()
            hit = self._entries.get(key)
            if hit is not None and hit[0] > now:
                self._entries.move_to_end(key)
                return hit[1]
            if not await self._loads.wait(key):
                break
        async with self._loads.lead(key):
            value = await load()
            self._entries[key] = (now + self._ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return value

    def drop(self, key: K) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()


class CachedUsers(UserStore):
    """``UserStore`` whose ``get`` is cached; ``set_password`` drops the entry."""

    def __init__(self, db: Database, clock: Clock, ttl: float) -> None:
        super().__init__(db, clock)
        self._cache: ReadCache[str, UserRecord | None] = ReadCache(clock, ttl)

    async def get(self, name: str) -> UserRecord | None:
        return await self._cache.get(name, lambda: UserStore.get(self, name))

    def forget(self) -> None:
        self._cache.clear()

    async def set_password(
        self, name: str, password_hash: str | None, *, expires_at: datetime | None = None
    ) -> None:
        self._cache.drop(name)
        await super().set_password(name, password_hash, expires_at=expires_at)


class CachedTokens(TokenStore):
    """``TokenStore`` whose ``find_by_hash`` is cached (revocation honoured within the TTL)."""

    def __init__(self, db: Database, clock: Clock, ttl: float) -> None:
        super().__init__(db, clock)
        self._cache: ReadCache[str, TokenRecord | None] = ReadCache(clock, ttl)

    async def find_by_hash(self, secret_hash: str) -> TokenRecord | None:
        load = lambda: TokenStore.find_by_hash(self, secret_hash)  # noqa: E731
        return await self._cache.get(secret_hash, load)

    def forget(self) -> None:
        self._cache.clear()
