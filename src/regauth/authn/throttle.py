"""Login throttling per account and per client address (SPEC §3: repeated failures).

The token endpoint calls, around identification of a request that carries a
credential::

    await throttle.check(username, client_ip)      # raises ThrottledError (429)
    try:
        principal = await identity.identify(credential, facts)
    except AuthenticationError:
        await throttle.failed(username, client_ip)
        raise
    await throttle.succeeded(username, client_ip)

Counters live in the database (:class:`~regauth.store.throttle.FailureStore`)
so that every worker process sees the same numbers. Unknown usernames are
counted like known ones: being throttled says nothing about whether an account
exists. IPv6 clients are counted per /64, the block one subscriber usually
holds; IPv4-mapped IPv6 addresses count as the IPv4 address.

Cost, on a SQLite file: the store's shared index (a memory-mapped file next to
the database, :mod:`regauth.store.failure_index`) is marked by every failure
before it is written, whichever process records it; when neither the account
nor the address is marked, ``check`` and ``succeeded`` return without any I/O
(a few reads of shared memory). Only marked counters take the paths below,
which are also the paths on PostgreSQL (no index: its workers may run on
several hosts).

``check`` is one indexed SELECT — or, with ``cache_seconds`` > 0 (the
server's default, ``database.cache_seconds``), a lookup in a snapshot of all
active counters that is re-read at most once per ``cache_seconds``, plus this
process's own failures since; failures recorded by other workers in the last
``cache_seconds`` may be missed, so a guesser may get that many extra tries.
``succeeded`` reads the account's counter afresh — with the index, each
marked counter (never a write on a clean account; concurrent logins share one
indexed SELECT, :class:`GroupRead`). When the account — or a counter this
process knows of failures on, or with the index a marked counter with
failures — has failures, the decision to let the correct credential through
and the reset are one atomic write transaction shared by every worker: once
any worker answered 429, no worker accepts the account's password until the
window ends, however old its snapshot. Without the index the per-address
counter is read from the snapshot only, so a burst spread over several
workers may get ``cache_seconds`` worth of extra tries per address before it
is throttled.
"""

from __future__ import annotations

import functools
import ipaddress
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType

import anyio
import anyio.lowlevel

from regauth.config.throttle import ThrottleSettings
from regauth.domain.rules import parse_address
from regauth.errors import ThrottledError
from regauth.ports import Clock
from regauth.singleflight import SingleFlight
from regauth.store import Database
from regauth.store.throttle import FailureCount, FailureStore, hashed_key

IPV6_PREFIX = 64
KNOWN_LOGINS = 4096  # (username, address) pairs whose counter names are kept


class Throttle:
    def __init__(
        self,
        store: FailureStore,
        settings: ThrottleSettings,
        clock: Clock,
        *,
        hint_size: int = 10000,
        cache_seconds: float = 0.0,
    ) -> None:
        if store.window.total_seconds() != settings.window:
            raise ValueError("the store's window must be settings.window")
        self._store = store
        self._settings = settings
        self._clock = clock
        self._hint_size = hint_size
        # counter name → end of the window in which this process knows of failures
        self._dirty: dict[str, datetime] = {}
        self._next_purge: datetime | None = None
        self._cache = timedelta(seconds=cache_seconds)
        self._snapshot: dict[str, FailureCount] = {}
        self._snapshot_until: datetime | None = None
        self._local: dict[str, FailureCount] = {}  # this process's failures since the snapshot
        self._reads: SingleFlight[str] = SingleFlight()  # one snapshot read at a time
        self._fresh = GroupRead(store)
        self._known: dict[tuple[str | None, str | None], Mapping[str, int]] = {}

    @classmethod
    def build(
        cls, db: Database, settings: ThrottleSettings, clock: Clock, cache_seconds: float = 0.0
    ) -> Throttle:
        store = FailureStore(db, clock, window=settings.window)
        return cls(store, settings, clock, cache_seconds=cache_seconds)

    @property
    def settings(self) -> ThrottleSettings:
        return self._settings

    async def check(
        self, username: str | None, client_ip: str | None, now: datetime | None = None
    ) -> None:
        """Raise ThrottledError when over a limit; ``retry_after`` = seconds to the window's end.

        ``now``: the time of the request (read from the clock when not given).
        """
        limits = self._limits(username, client_ip)
        if not limits or self._store.clean(limits, now):
            return
        counts = await self._counts(limits)
        self._remember(counts)
        ends = [c.resets_at for key, c in counts.items() if c.count >= limits[key]]
        if ends:
            wait = (max(ends) - self._clock.now()).total_seconds()
            raise ThrottledError(
                "too many failed attempts; retry later", retry_after=max(1, math.ceil(wait))
            )

    async def failed(self, username: str | None, client_ip: str | None) -> None:
        """Count a failed attempt on the account's and the address's counters."""
        keys = list(self._limits(username, client_ip))
        if not keys:
            return
        await self._store.record_failure(keys)
        now = self._clock.now()
        if self._snapshot_until is not None:
            for key in keys:
                seen = self._local.get(key)
                count = seen.count + 1 if seen and seen.resets_at > now else 1
                self._local[key] = FailureCount(count, now + self._store.window)
        # The window may have started earlier; a later end only costs a needless reset.
        self._remember({k: FailureCount(1, now + self._store.window) for k in keys})
        await self._purge_now_and_then(now)

    async def succeeded(
        self, username: str | None, client_ip: str | None, now: datetime | None = None
    ) -> None:
        """Let a correct credential through and reset its counters, or raise ThrottledError.

        The account's counter is read afresh (one indexed SELECT): another
        worker may have locked it since our snapshot. When it, or a counter this
        process knows to have failures, has any, the decision and the reset are
        one atomic write (:meth:`FailureStore.accept`); a login on a clean
        account writes nothing. ``now``: the time of the request (else read from the clock).
        """
        limits = self._limits(username, client_ip)
        if not limits:
            return
        flagged = self._store.flagged(limits, now)
        if flagged is not None and not flagged:  # no process recorded failures on either
            return
        now = self._clock.now()
        if flagged is None:  # no shared index: this process's hints and a fresh read
            suspect = {k: n for k, n in limits.items() if self._dirty.get(k, now) > now}
            account = f"account:{username}"
            fresh = username and account in limits and account not in suspect
            if fresh and await self._fresh.count(account):
                suspect[account] = limits[account]
        else:  # some may have failures: read them afresh
            marks = self._store.marks(flagged)
            found = await self._fresh.counts(flagged)
            suspect = {k: limits[k] for k in flagged if k in found}
            if len(suspect) < len(flagged):
                none = [(k, m) for k, m in zip(flagged, marks, strict=True) if k not in found]
                self._store.settle([k for k, _ in none], [m for _, m in none])
        if not suspect:
            return
        ends = await self._store.accept(suspect)
        if ends is not None:
            self._remember({key: FailureCount(1, ends) for key in suspect})
            wait = math.ceil((ends - now).total_seconds())
            raise ThrottledError("too many failed attempts; retry later", retry_after=max(1, wait))
        for key in suspect:
            self._dirty.pop(key, None)
            self._local.pop(key, None)
            self._snapshot.pop(hashed_key(key), None)

    async def _counts(self, limits: Mapping[str, int]) -> dict[str, FailureCount]:
        if self._cache <= timedelta(0):
            return await self._store.counts(limits)
        now = self._clock.now()
        while self._snapshot_until is None or now >= self._snapshot_until:
            if not await self._reads.wait("snapshot"):
                async with self._reads.lead("snapshot"):
                    self._snapshot = await self._store.active()
                    self._snapshot_until = now + self._cache
                    self._local = {}
                break
            now = self._clock.now()
        found: dict[str, FailureCount] = {}
        for key in limits:
            shared = self._snapshot.get(hashed_key(key))
            mine = self._local.get(key)
            count = (shared.count if shared else 0) + (mine.count if mine else 0)
            ends = [c.resets_at for c in (shared, mine) if c is not None and c.resets_at > now]
            if count and ends:
                found[key] = FailureCount(count, max(ends))
        return found

    def _limits(self, username: str | None, client_ip: str | None) -> Mapping[str, int]:
        """The counters of a login and their limits (the same few on every login: kept)."""
        known = self._known.get((username, client_ip))
        if known is not None:
            return known
        s = self._settings
        names: dict[str, int] = {}
        if username and s.max_failures_per_account > 0:
            names[f"account:{username}"] = s.max_failures_per_account
        if client_ip and s.max_failures_per_address > 0:
            names[f"ip:{address_key(client_ip)}"] = s.max_failures_per_address
        if len(self._known) >= KNOWN_LOGINS:
            self._known.clear()
        limits = self._known[(username, client_ip)] = MappingProxyType(names)
        return limits

    def _remember(self, counts: dict[str, FailureCount]) -> None:
        for key, count in counts.items():
            if key not in self._dirty and len(self._dirty) >= self._hint_size:
                # Forgetting a hint only skips a reset: the counter still expires.
                del self._dirty[next(iter(self._dirty))]
            self._dirty[key] = max(count.resets_at, self._dirty.get(key, count.resets_at))

    async def _purge_now_and_then(self, now: datetime) -> None:
        """Delete ended windows at most once per window per process (failure path only)."""
        if self._next_purge is not None and now < self._next_purge:
            return
        self._next_purge = now + self._store.window
        await self._store.purge()
        self._dirty = {k: end for k, end in self._dirty.items() if end > now}


@dataclass(eq=False)
class _Round:
    keys: set[str] = field(default_factory=set)
    done: anyio.Event = field(default_factory=anyio.Event)
    led: bool = False
    found: dict[str, FailureCount] = field(default_factory=dict)
    error: Exception | None = None


class GroupRead:
    """Fresh counter reads shared by concurrent callers: one query per round, not per login.

    A caller joins the round being formed; its first member waits for the
    previous round's query to finish, closes the round and reads every key in
    it. So each answer comes from a query that started after the caller
    asked — fresh enough to see a lock set before — while under load the
    database sees about one query per query time, whatever the request rate.
    """

    def __init__(self, store: FailureStore) -> None:
        self._store = store
        self._forming: _Round | None = None
        self._reading = anyio.Lock()

    async def count(self, key: str) -> FailureCount | None:
        return (await self.counts([key])).get(key)

    async def counts(self, keys: Iterable[str]) -> dict[str, FailureCount]:
        """The counters among ``keys`` with failures, read by a query that started after."""
        wanted = list(keys)
        round_ = self._forming
        if round_ is None:
            round_ = self._forming = _Round()
        round_.keys.update(wanted)
        if round_.led:
            await round_.done.wait()
        else:
            round_.led = True
            async with self._reading:
                # One turn of the event loop first: the requests already under way in this
                # process join the round (under load, one query answers many of them).
                await anyio.lowlevel.checkpoint()
                if self._forming is round_:
                    self._forming = None  # later callers form the next round
                try:
                    round_.found = await self._store.counts(round_.keys)
                except Exception as exc:  # every member of the round sees it
                    round_.error = exc
                finally:
                    round_.done.set()
        if round_.error is not None:
            raise round_.error
        return {k: round_.found[k] for k in wanted if k in round_.found}


@functools.lru_cache(maxsize=4096)  # the same few addresses log in again and again
def address_key(client_ip: str) -> str:
    """The counter name of a client address: IPv4 as is, IPv6 by its /64."""
    address = parse_address(client_ip)
    if address is None:
        return client_ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False))
    return str(address)
