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

A hot entry never makes requests wait for its reload: the first hit after
half the TTL starts the reload in a task of its own and is answered from the
entry, which stays valid until the TTL ends (so the bound above holds as it
is). Only an entry that nobody asked for in the second half of its life
expires and is reloaded while its next caller waits. A reload that reads the
same value keeps the object it had (what is memoised per record object stays
valid), and one that a write through the wrapper overtook is discarded.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from datetime import datetime, timedelta
from typing import Generic, TypeVar

import anyio

from regauth.ports import Clock
from regauth.singleflight import SingleFlight
from regauth.store.database import Database
from regauth.store.records import TokenRecord, UserRecord
from regauth.store.tokens import TokenStore
from regauth.store.users import UserStore
from regauth.tasks import BackgroundTasks

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
log = logging.getLogger("regauth.store")
# (when a hit starts a reload in the background, when the entry expires, the value)
Entry = tuple[datetime, datetime, V]


class ReadCache(Generic[K, V]):
    def __init__(
        self, clock: Clock, ttl: float, size: int = 10_000, *, refresh_after: float = 0.5
    ) -> None:
        """``refresh_after``: the fraction of ``ttl`` after which a hit also reloads in the
        background (1 or more: never; entries then expire and reload in the foreground)."""
        self._clock = clock
        self._ttl = timedelta(seconds=ttl)
        self._refresh = timedelta(seconds=ttl * refresh_after)
        self._size = size
        self._entries: OrderedDict[K, Entry[V]] = OrderedDict()
        self._loads: SingleFlight[K] = SingleFlight()
        self._enabled = self._ttl > timedelta(0) and self._size > 0
        self._generation = 0  # moved by drop() and clear(): loads begun before are discarded
        self._reloads = BackgroundTasks()

    @property
    def enabled(self) -> bool:
        return self._enabled

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        if not self._enabled:
            return await load()
        while True:
            now = self._clock.now()
            hit = self._entries.get(key)
            if hit is not None and hit[1] > now:
                self._entries.move_to_end(key)
                if hit[0] <= now and not self._loads.running(key):
                    self._reload_in_background(key, load, now)
                return hit[2]
            if not await self._loads.wait(key):
                break
        async with self._loads.lead(key):
            return await self._load(key, load, now)

    async def _load(self, key: K, load: Callable[[], Awaitable[V]], now: datetime) -> V:
        """Load and keep the value; ``now`` is read before the load (the entry's age)."""
        generation = self._generation
        value = await load()
        if generation != self._generation:  # a write through the wrapper came meanwhile
            return value
        old = self._entries.get(key)
        if old is not None and old[2] == value:
            value = old[2]  # the same record: keep the object the memos know
        self._entries[key] = (now + self._refresh, now + self._ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return value

    def _reload_in_background(
        self, key: K, load: Callable[[], Awaitable[V]], now: datetime
    ) -> None:
        done = self._loads.begin(key)  # callers reaching the expiry meanwhile wait for it
        self._reloads.spawn(self._reload(key, load, now, done))

    async def _reload(
        self, key: K, load: Callable[[], Awaitable[V]], now: datetime, done: anyio.Event
    ) -> None:
        try:
            await self._load(key, load, now)
        except Exception as exc:  # the entry expires as it would have; its next load reports
            log.debug("background reload failed: %s", type(exc).__name__)
        finally:
            self._loads.end(key, done)

    def drop(self, key: K) -> None:
        self._generation += 1
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._generation += 1
        self._entries.clear()

    async def aclose(self) -> None:
        """Cancel the reloads under way (before the database goes)."""
        await self._reloads.aclose()


class CachedUsers(UserStore):
    """``UserStore`` whose ``get`` is cached; ``set_password`` drops the entry."""

    def __init__(self, db: Database, clock: Clock, ttl: float) -> None:
        super().__init__(db, clock)
        self._cache: ReadCache[str, UserRecord | None] = ReadCache(clock, ttl)

    async def get(self, name: str) -> UserRecord | None:
        return await self._cache.get(name, lambda: UserStore.get(self, name))

    def forget(self) -> None:
        self._cache.clear()

    async def aclose(self) -> None:
        await self._cache.aclose()

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

    async def aclose(self) -> None:
        await self._cache.aclose()
