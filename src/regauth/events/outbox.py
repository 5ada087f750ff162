"""The durable outbox: events written in the change's transaction, deliveries claimed by lease.

Who calls what:

- a change that emits an event calls :func:`enqueue` with the session (or
  :func:`enqueue_many` with the connection) of its own transaction, so the
  event exists exactly when the change does — before the caller is answered;
- the delivery worker (:mod:`regauth.events.delivery`) calls
  :meth:`Outbox.route`, :meth:`Outbox.claim` and :meth:`Outbox.settle`;
- ``regauth events list|retry|dead`` call :meth:`Outbox.deliveries` and
  :meth:`Outbox.retry`.

Claiming moves ``due_at`` ahead by a lease in one statement (``UPDATE …
WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING``; SQLite has one
writer and needs no lock clause): several workers and replicas never claim
the same row at once, and a row whose worker died falls due again when the
lease runs out. Settling checks the lease's ``claim`` token, so a worker
that outlived its lease cannot overwrite a newer attempt. Delivery is
therefore at-least-once; every POST carries the event id for deduplication.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import and_, bindparam, delete, exists, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from regauth.store import Database
from regauth.store.audit import sqlite_chunks
from regauth.store.models_events import DeliveryRow, EventRow

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"


def event_body(event_id: str, type: str, at: datetime, data: Mapping[str, Any]) -> bytes:
    """The JSON document delivered (and signed) exactly as stored."""
    document = {"id": event_id, "type": type, "at": at.isoformat(), "data": data}
    return orjson.dumps(document)


def event_row(event_id: str, type: str, at: datetime, data: Mapping[str, Any]) -> dict[str, Any]:
    body = event_body(event_id, type, at, data)
    return {"id": event_id, "type": type, "at": at, "body": body, "routed": False}


async def enqueue(
    session: AsyncSession,
    type: str,
    payload: Mapping[str, Any],
    *,
    at: datetime,
    event_id: str,
) -> str:
    """Add one event to the outbox inside the caller's transaction; returns its id.

    For example the admin layer's ``uow.record(change)`` calls
    ``enqueue(session, "admin.user:add", {...}, at=clock.now(), event_id=...)``.
    Nothing is sent before the transaction commits; a rollback drops the event.
    """
    await session.execute(insert(EventRow).values(event_row(event_id, type, at, payload)))
    return event_id


async def enqueue_many(conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Add :func:`event_row` rows inside the caller's transaction.

    One executemany on PostgreSQL; on SQLite up to a hundred rows to one INSERT, as
    the audit rows they ride with (sqlite3 re-takes the GIL around each row of an
    executemany: a thread switch a row in a busy worker)."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        await conn.execute(insert(EventRow), list(rows))
        return
    for start, size in sqlite_chunks(len(rows)):
        await conn.execute(insert(EventRow).values(list(rows[start : start + size])))


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery this worker holds until its lease (``claim``) runs out."""

    id: int
    event_id: str
    endpoint: str
    attempts: int  # attempts made before this one
    claim: str
    type: str
    body: bytes


@dataclass(frozen=True, slots=True)
class DeliveryView:
    id: int
    event_id: str
    type: str
    at: datetime
    endpoint: str
    state: str
    attempts: int
    due_at: datetime
    last_error: str
    delivered_at: datetime | None


class Outbox:
    def __init__(self, db: Database) -> None:
        self._db = db
        # Built once: the idle poll runs every second in every worker.
        unrouted = exists().where(EventRow.routed.is_(False))
        pending = exists().where(
            DeliveryRow.state == PENDING, DeliveryRow.due_at <= bindparam("now")
        )
        self._due = select(or_(unrouted, pending))

    def _locking(self) -> bool:
        return self._db.dialect == "postgresql"

    async def due(self, now: datetime) -> bool:
        """Is anything waiting (a cheap read, so an idle worker takes no write lock)?"""
        async with self._db.engine.connect() as conn:
            return bool(await conn.scalar(self._due, {"now": now}))

    async def route(
        self, wants: Callable[[str], Iterable[str]], now: datetime, limit: int = 200
    ) -> int:
        """Create the deliveries of up to ``limit`` new events; ``wants(type)`` names endpoints."""
        due = select(EventRow.id).where(EventRow.routed.is_(False)).order_by(EventRow.at)
        due = due.limit(limit)
        if self._locking():
            due = due.with_for_update(skip_locked=True)
        stmt = (
            update(EventRow)
            .where(EventRow.id.in_(due.scalar_subquery()))
            .values(routed=True)
            .returning(EventRow.id, EventRow.type)
        )
        async with self._db.engine.begin() as conn:
            routed = (await conn.execute(stmt)).all()
            rows = [
                {"event_id": event_id, "endpoint": name, "due_at": now}
                for event_id, type in routed
                for name in wants(type)
            ]
            if rows:
                await conn.execute(insert(DeliveryRow), rows)
        return len(routed)

    async def claim(
        self, now: datetime, lease: timedelta, claim: str, limit: int
    ) -> builtins.list[Claimed]:
        """Lease up to ``limit`` due deliveries: their ``due_at`` moves to ``now + lease``."""
        due = (
            select(DeliveryRow.id)
            .where(DeliveryRow.state == PENDING, DeliveryRow.due_at <= now)
            .order_by(DeliveryRow.due_at, DeliveryRow.id)
            .limit(limit)
        )
        if self._locking():
            due = due.with_for_update(skip_locked=True)
        stmt = (
            update(DeliveryRow)
            .where(DeliveryRow.id.in_(due.scalar_subquery()))
            .values(due_at=now + lease, claim=claim)
            .returning(
                DeliveryRow.id, DeliveryRow.event_id, DeliveryRow.endpoint, DeliveryRow.attempts
            )
        )
        async with self._db.engine.begin() as conn:
            leased = (await conn.execute(stmt)).all()
            if not leased:
                return []
            ids = {row.event_id for row in leased}
            bodies = await conn.execute(
                select(EventRow.id, EventRow.type, EventRow.body).where(EventRow.id.in_(ids))
            )
            events = {row.id: (row.type, bytes(row.body)) for row in bodies}
        return [
            Claimed(r.id, r.event_id, r.endpoint, r.attempts, claim, *events[r.event_id])
            for r in sorted(leased, key=lambda r: r.id)
        ]

    async def settle(
        self,
        item: Claimed,
        *,
        now: datetime,
        delivered: bool,
        retry_at: datetime | None,
        error: str = "",
    ) -> bool:
        """Record an attempt: delivered, retried at ``retry_at``, or dead (``retry_at`` None).

        False when the lease had run out and another worker took the row over.
        """
        values: dict[str, Any] = {"attempts": DeliveryRow.attempts + 1, "last_error": error[:255]}
        if delivered:
            values.update(state=DELIVERED, delivered_at=now, last_error="")
        elif retry_at is None:
            values.update(state=DEAD)
        else:
            values.update(due_at=retry_at)
        stmt = (
            update(DeliveryRow)
            .where(
                DeliveryRow.id == item.id,
                DeliveryRow.claim == item.claim,
                DeliveryRow.state == PENDING,
            )
            .values(**values)
        )
        async with self._db.engine.begin() as conn:
            result = await conn.execute(stmt)
        return bool(result.rowcount)

    async def backlog(self, now: datetime) -> tuple[int, float]:
        """Outbox depth (pending deliveries + unrouted events) and the oldest one's age (s)."""
        pending = (
            select(func.count(), func.min(EventRow.at))
            .select_from(DeliveryRow)
            .join(EventRow, EventRow.id == DeliveryRow.event_id)
            .where(DeliveryRow.state == PENDING)
        )
        unrouted = select(func.count(), func.min(EventRow.at)).where(EventRow.routed.is_(False))
        async with self._db.session() as session:
            n1, t1 = (await session.execute(pending)).one()
            n2, t2 = (await session.execute(unrouted)).one()
        oldest = min((_aware(t) for t in (t1, t2) if t is not None), default=None)
        age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
        return int(n1) + int(n2), age

    async def prune(self, before: datetime) -> int:
        """Delete routed events older than ``before`` with nothing pending or dead."""
        unfinished = exists().where(
            DeliveryRow.event_id == EventRow.id, DeliveryRow.state.in_((PENDING, DEAD))
        )
        old = and_(EventRow.routed.is_(True), EventRow.at < before, ~unfinished)
        async with self._db.engine.begin() as conn:
            ids = select(EventRow.id).where(old)
            await conn.execute(delete(DeliveryRow).where(DeliveryRow.event_id.in_(ids)))
            result = await conn.execute(delete(EventRow).where(old))
        return int(result.rowcount)

    async def deliveries(
        self, *, state: str | None = None, event_id: str | None = None, limit: int = 100
    ) -> builtins.list[DeliveryView]:
        stmt = (
            select(DeliveryRow, EventRow.type, EventRow.at)
            .join(EventRow, EventRow.id == DeliveryRow.event_id)
            .order_by(DeliveryRow.id.desc())
            .limit(limit)
        )
        if state is not None:
            stmt = stmt.where(DeliveryRow.state == state)
        if event_id is not None:
            stmt = stmt.where(DeliveryRow.event_id == event_id)
        async with self._db.session() as session:
            rows = (await session.execute(stmt)).all()
        return [
            DeliveryView(
                d.id,
                d.event_id,
                type,
                at,
                d.endpoint,
                d.state,
                d.attempts,
                d.due_at,
                d.last_error,
                d.delivered_at,
            )
            for d, type, at in rows
        ]

    async def retry(self, now: datetime, ids: Sequence[int] = (), *, all_dead: bool = False) -> int:
        """Put dead deliveries (these ids, or all) back in line, due now, attempts reset."""
        condition = DeliveryRow.state == DEAD
        if not all_dead:
            condition = and_(condition, DeliveryRow.id.in_(list(ids)))
        stmt = (
            update(DeliveryRow)
            .where(condition)
            .values(state=PENDING, attempts=0, due_at=now, claim="", last_error="")
        )
        async with self._db.engine.begin() as conn:
            result = await conn.execute(stmt)
        return int(result.rowcount)


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo else value.replace(tzinfo=UTC)
