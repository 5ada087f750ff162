"""Login-failure counters in the database, so that every worker process sees them.

Callers name counters ``account:<name>`` or ``ip:<address>``
(:class:`regauth.authn.throttle.Throttle` does). The table holds only the
SHA-256 of that name: usernames typed by strangers (often a password in the
wrong field) and client addresses do not sit in the database in the clear, and
the key column has a fixed size whatever an attacker sends. An IPv4 address is
easily recovered from its hash by trying them all; rows live only one window
and :meth:`FailureStore.purge` deletes them afterwards.

A counter is a fixed window: it starts at the first failure and lasts
``window`` seconds; a failure after that starts a new window at 1. Every
increment is one atomic ``INSERT … ON CONFLICT DO UPDATE`` (SQLite ≥ 3.24 and
PostgreSQL), so concurrent workers never lose a count. :meth:`FailureStore.accept`
decides whether a correct credential may pass and resets the counters in one
write transaction, so no worker can reset a counter another one has just
pushed over its limit.

On a SQLite file, every process that opens the database also shares a
:class:`~regauth.store.failure_index.FailureIndex` (a memory-mapped file next
to it): :meth:`FailureStore.record_failure` marks its counters there before
writing, so :meth:`FailureStore.flagged` tells, without any I/O, which
counters may have failures; the others have none. PostgreSQL databases have
no index (``flagged`` answers ``None``): their workers may run on several
hosts.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import sqlite3
import weakref
from collections.abc import Iterable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, case, delete, literal, make_url, select, update

from regauth.ports import Clock
from regauth.store._queries import conflict_insert
from regauth.store.database import Database
from regauth.store.failure_index import FailureIndex, Slot
from regauth.store.models import AuthFailure, UTCDateTime

log = logging.getLogger("regauth.throttle")


@dataclass(frozen=True, slots=True)
class FailureCount:
    """Failures in the current window of one counter, and when that window ends."""

    count: int
    resets_at: datetime


def hashed_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


@functools.lru_cache(maxsize=4096)  # asked about the same few counters on every login
def _slot(key: str) -> Slot:
    return Slot.of(hashed_key(key))


_forks = [0]  # how many forks this process descends from (a mapping is per process)
os.register_at_fork(after_in_child=lambda: _forks.__setitem__(0, _forks[0] + 1))


class FailureStore:
    """Failure counters shared through the database; every method is one statement."""

    def __init__(
        self, db: Database, clock: Clock, *, window: float = 300, index: bool = True
    ) -> None:
        if window <= 0:
            raise ValueError("window must be positive")
        self._db = db
        self._clock = clock
        self._window = timedelta(seconds=window)
        self._window_us = round(window * 1e6)
        self._in_place = db.dialect == "sqlite"
        self._reader: sqlite3.Connection | None = None
        self._file = _sqlite_file(db) if index else None
        self._index: FailureIndex | None = None
        self._index_of = -1  # the _forks generation that opened (or failed to open) _index

    @property
    def window(self) -> timedelta:
        return self._window

    @property
    def indexed(self) -> bool:
        """Whether :meth:`flagged` answers (a SQLite file whose index could be mapped)."""
        return self._shared_index() is not None

    def flagged(self, keys: Iterable[str], now: datetime | None = None) -> list[str] | None:
        """The counters among ``keys`` that may have failures; ``None`` without an index.

        The others have none in their current window, whichever process
        recorded them. No I/O: one read of shared memory per counter. ``now``:
        the time to judge by (read from the clock when not given).
        """
        index = self._shared_index()
        if index is None:
            return None
        now_us = _micros(self._clock.now() if now is None else now)
        return [k for k in keys if index.marked(_slot(k), now_us)]

    def clean(self, keys: Iterable[str], now: datetime | None = None) -> bool:
        """True when the index shows no failures on any of ``keys`` (False without one)."""
        index = self._shared_index()
        if index is None:
            return False
        return index.clear(map(_slot, keys), _micros(self._clock.now() if now is None else now))

    def marks(self, keys: Sequence[str]) -> list[int]:
        """The state of ``keys``' buckets, taken before a fresh read (see :meth:`settle`)."""
        index = self._shared_index()
        return [] if index is None else index.states(map(_slot, keys))

    def settle(self, keys: Sequence[str], marks: Sequence[int]) -> None:
        """A read after ``marks = self.marks(keys)`` found no failures on ``keys``: unmark
        their buckets unless anything changed in them since."""
        index = self._shared_index()
        if index is not None and marks:
            index.unmark([_slot(k) for k in keys], marks)

    async def record_failure(self, keys: Sequence[str]) -> None:
        """Count one failure on each counter (a new window when the old one ended)."""
        wanted = _unique(keys)
        if not wanted:
            return
        now = self._clock.now()
        index = self._shared_index(retry=True)
        slots = [Slot.of(h) for h in wanted]
        epochs = [] if index is None else index.mark(slots, _micros(now))
        try:
            await self._upsert(wanted, now)
        finally:
            if index is not None:
                index.done(slots, epochs)

    async def _upsert(self, wanted: list[str], now: datetime) -> None:
        table = cast(Table, AuthFailure.__table__)
        async with self._db.session() as s, s.begin():
            insert = conflict_insert(s.get_bind().dialect.name)
            stmt = insert(table).values(
                [{"key": k, "window_start": now, "count": 1} for k in wanted]
            )
            expired = table.c.window_start <= literal(now - self._window, UTCDateTime())
            stmt = stmt.on_conflict_do_update(
                index_elements=[table.c.key],
                set_={
                    "count": case((expired, 1), else_=table.c.count + 1),
                    "window_start": case(
                        (expired, stmt.excluded.window_start), else_=table.c.window_start
                    ),
                },
            )
            await s.execute(stmt)

    async def counts(self, keys: Iterable[str]) -> dict[str, FailureCount]:
        """The counters of ``keys`` that have failures in their current window.

        On every successful login (the account's fresh read), so on SQLite it
        is a point query on this store's own read-only connection, run in
        place: microseconds, where a round trip through the async driver's
        thread costs milliseconds on a busy machine. WAL readers never wait
        for writers; on any error the async path answers (and raises).
        """
        by_hash = {hashed_key(k): k for k in keys}
        if not by_hash:
            return {}
        now = self._clock.now()
        rows = self._read_in_place(list(by_hash))
        if rows is None:
            query = select(AuthFailure.key, AuthFailure.window_start, AuthFailure.count).where(
                AuthFailure.key.in_(list(by_hash)),
                AuthFailure.window_start > now - self._window,
            )
            async with self._db.engine.connect() as conn:  # Core, no session
                rows = [(k, s, int(c)) for k, s, c in (await conn.execute(query)).all()]
        found: dict[str, FailureCount] = {}
        for key, start, count in rows:
            ends = start + self._window
            if count > 0 and ends > now:
                found[by_hash[key]] = FailureCount(count, ends)
        return found

    def _read_in_place(self, hashes: list[str]) -> list[tuple[str, datetime, int]] | None:
        reader = self._sqlite_reader()
        if reader is None:
            return None
        marks = ", ".join("?" * len(hashes))
        sql = f"SELECT key, window_start, count FROM auth_failures WHERE key IN ({marks})"  # noqa: S608 — marks only
        try:
            rows = reader.execute(sql, hashes).fetchall()
            return [(key, _sqlite_time(start), int(count)) for key, start, count in rows]
        except (sqlite3.Error, ValueError, TypeError):
            self._reader, self._in_place = None, False  # the async path from now on
            return None

    def _sqlite_reader(self) -> sqlite3.Connection | None:
        if self._reader is None and self._in_place:
            try:
                path = make_url(self._db.url).database or ""
                uri = Path(path).resolve().as_uri() + "?mode=ro"
                reader = sqlite3.connect(uri, uri=True, check_same_thread=False)
                reader.execute("PRAGMA busy_timeout=50")
                reader.execute("SELECT 1 FROM auth_failures LIMIT 0")
                self._reader = reader
            except (sqlite3.Error, OSError, ValueError):
                self._in_place = False
        return self._reader

    async def active(self) -> dict[str, FailureCount]:
        """Every counter with failures in its current window, by hashed key (one query)."""
        now = self._clock.now()
        query = select(AuthFailure.key, AuthFailure.window_start, AuthFailure.count).where(
            AuthFailure.window_start > now - self._window, AuthFailure.count > 0
        )
        async with self._db.session() as s:
            rows = (await s.execute(query)).all()
        return {key: FailureCount(count, start + self._window) for key, start, count in rows}

    async def failures(self, keys: Iterable[str]) -> dict[str, int]:
        """Failures within the current window for every key (0 when none)."""
        wanted = list(keys)
        found = await self.counts(wanted)
        return {k: found[k].count if k in found else 0 for k in wanted}

    async def accept(self, limits: Mapping[str, int]) -> datetime | None:
        """Reset the counters unless one is at its limit; then return when that window ends.

        One write transaction: its first statement takes the write lock
        (SQLite) or locks the counters' rows (PostgreSQL), so the read that
        decides and the reset see the same numbers as every other worker.
        """
        by_hash = {hashed_key(k): limit for k, limit in limits.items()}
        if not by_hash:
            return None
        wanted = sorted(by_hash)
        index = self._shared_index()
        slots = [Slot.of(h) for h in wanted]
        marks = [] if index is None else index.states(slots)
        ends = await self._accept(by_hash, wanted)
        if index is not None and ends is None:
            index.unmark(slots, marks)
        return ends

    async def _accept(self, by_hash: dict[str, int], wanted: list[str]) -> datetime | None:
        now = self._clock.now()
        mine = AuthFailure.key.in_(wanted)
        async with self._db.session() as s, s.begin():
            await s.execute(update(AuthFailure).where(mine).values(count=AuthFailure.count))
            query = select(AuthFailure.key, AuthFailure.window_start, AuthFailure.count)
            rows = (await s.execute(query.where(mine))).all()
            ends = [
                start + self._window
                for key, start, count in rows
                if count >= by_hash[key] and start + self._window > now
            ]
            if ends:
                return max(ends)
            if rows:
                await s.execute(delete(AuthFailure).where(mine))
        return None

    async def reset(self, *keys: str) -> None:
        """Forget the named counters (one statement for all of them)."""
        wanted = _unique(keys)
        if wanted:
            index = self._shared_index()
            slots = [Slot.of(h) for h in wanted]
            marks = [] if index is None else index.states(slots)
            async with self._db.session() as s, s.begin():
                await s.execute(delete(AuthFailure).where(AuthFailure.key.in_(wanted)))
            if index is not None:
                index.unmark(slots, marks)

    async def purge(self) -> int:
        """Delete every counter whose window has ended; return how many."""
        cutoff = self._clock.now() - self._window
        async with self._db.session() as s, s.begin():
            result: Any = await s.execute(
                delete(AuthFailure).where(AuthFailure.window_start <= cutoff)
            )
        return int(result.rowcount)

    def _shared_index(self, *, retry: bool = False) -> FailureIndex | None:
        """This process's mapping of the database's index (made on first use, after a fork)."""
        if self._file is None:
            return None
        if self._index_of == _forks[0] and (self._index is not None or not retry):
            return self._index  # None: it failed in this process, only a failure retries
        self._index = None
        self._index_of = _forks[0]
        try:
            self._index = FailureIndex.open(
                self._file, self._window_us, self._active_now, _micros(self._clock.now())
            )
            weakref.finalize(self, self._index.close)  # unmapped with the store
        except (OSError, sqlite3.Error, ValueError) as exc:
            log.error("the login-failure index next to the database is unusable: %r", exc)
        return self._index

    def _active_now(self) -> list[tuple[str, int]]:
        """Every counter with failures, and the end of its window (µs), read synchronously."""
        assert self._file is not None
        uri = self._file.resolve().as_uri() + "?mode=ro"
        with closing(sqlite3.connect(uri, uri=True)) as conn:
            conn.execute("PRAGMA busy_timeout=5000")
            rows = conn.execute("SELECT key, window_start FROM auth_failures WHERE count > 0")
            return [(key, _micros(_sqlite_time(start)) + self._window_us) for key, start in rows]


def _micros(at: datetime) -> int:
    return round(at.timestamp() * 1e6)


def _sqlite_file(db: Database) -> Path | None:
    """The database's file, when it is SQLite on a file (not in memory)."""
    if db.dialect != "sqlite":
        return None
    path = make_url(db.url).database or ""
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return Path(path)


def _sqlite_time(value: object) -> datetime:
    """SQLAlchemy's SQLite DATETIME text (naive, UTC by convention) as an aware datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


def _unique(keys: Iterable[str]) -> list[str]:
    # Sorted: concurrent multi-row upserts lock rows in one order (no deadlock on PostgreSQL).
    return sorted({hashed_key(k) for k in keys})
