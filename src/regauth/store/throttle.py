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
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, case, delete, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite

from regauth.ports import Clock
from regauth.store.database import Database
from regauth.store.models import AuthFailure, UTCDateTime


@dataclass(frozen=True, slots=True)
class FailureCount:
    """Failures in the current window of one counter, and when that window ends."""

    count: int
    resets_at: datetime


def hashed_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class FailureStore:
    """Failure counters shared through the database; every method is one statement."""

    def __init__(self, db: Database, clock: Clock, *, window: float = 300) -> None:
        if window <= 0:
            raise ValueError("window must be positive")
        self._db = db
        self._clock = clock
        self._window = timedelta(seconds=window)

    @property
    def window(self) -> timedelta:
        return self._window

    async def record_failure(self, keys: Sequence[str]) -> None:
        """Count one failure on each counter (a new window when the old one ended)."""
        wanted = _unique(keys)
        if not wanted:
            return
        now = self._clock.now()
        table = cast(Table, AuthFailure.__table__)
        async with self._db.session() as s, s.begin():
            insert = (
                postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert
            )
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
        """The counters of ``keys`` that have failures in their current window."""
        by_hash = {hashed_key(k): k for k in keys}
        if not by_hash:
            return {}
        now = self._clock.now()
        query = select(AuthFailure.key, AuthFailure.window_start, AuthFailure.count).where(
            AuthFailure.key.in_(list(by_hash)),
            AuthFailure.window_start > now - self._window,
        )
        async with self._db.engine.connect() as conn:  # Core, no session: on every login
            rows = (await conn.execute(query)).all()
        return {
            by_hash[key]: FailureCount(count, start + self._window)
            for key, start, count in rows
            if count > 0
        }

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
            async with self._db.session() as s, s.begin():
                await s.execute(delete(AuthFailure).where(AuthFailure.key.in_(wanted)))

    async def purge(self) -> int:
        """Delete every counter whose window has ended; return how many."""
        cutoff = self._clock.now() - self._window
        async with self._db.session() as s, s.begin():
            result: Any = await s.execute(
                delete(AuthFailure).where(AuthFailure.window_start <= cutoff)
            )
        return int(result.rowcount)


def _unique(keys: Iterable[str]) -> list[str]:
    # Sorted: concurrent multi-row upserts lock rows in one order (no deadlock on PostgreSQL).
    return sorted({hashed_key(k) for k in keys})
