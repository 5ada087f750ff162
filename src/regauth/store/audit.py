"""The audit log of token decisions (SPEC §7): append in batches, list with filters.

:meth:`AuditStore.add_many` is the one place audit rows enter the database:
one transaction per batch, which also moves the drain mark of the local
spool segment the rows came from (:mod:`regauth.spool`), so a batch and its
mark are committed together or not at all.
"""

from __future__ import annotations

import builtins
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from regauth.store.database import Database
from regauth.store.models_authz import AuditRow, AuditSpoolRow

# The column order of the rows stored (regauth.spool.COLUMNS: the spool's line order).
COLUMNS = (
    "at",
    "outcome",
    "subject",
    "source",
    "service",
    "client_ip",
    "error_code",
    "document",
    "nothing_granted",
)

if TYPE_CHECKING:
    from regauth.spool import Position, Values


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    at: datetime
    outcome: str
    subject: str | None
    source: str | None
    service: str
    client_ip: str | None
    error_code: str
    document: str  # the JSON document of regauth.audit.event_document
    nothing_granted: bool = False


def _sqlite_time(value: datetime) -> str:
    """The text form SQLAlchemy's SQLite DATETIME reads back (naive, UTC by convention)."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is UTC else value.astimezone(UTC)


# Rows per SQLite INSERT: 9 columns x 100 rows stays under 999 bound parameters, the
# smallest limit any SQLite build has (SQLITE_MAX_VARIABLE_NUMBER before 3.32). A batch
# goes in statements of these sizes only: each connection keeps every statement text it
# ran prepared (sqlite3's statement cache), so a text per row count would hold up to a
# hundred large prepared statements per connection.
SQLITE_STATEMENT_ROWS = (100, 10, 1)


def sqlite_chunks(count: int) -> Iterator[tuple[int, int]]:
    """``(start, rows)`` pieces of a batch of ``count`` rows, largest first, in order:
    at most ``count // 100`` of a hundred, nine of ten and nine of one."""
    start = 0
    for size in SQLITE_STATEMENT_ROWS:
        while count - start >= size:
            yield start, size
            start += size


# Called inside the audit batch's transaction with its rows (the events outbox hooks in here).
AlsoWrite = Callable[[AsyncConnection, Sequence[dict[str, object]]], Awaitable[None]]


class AuditStore:
    def __init__(self, db: Database, *, also: AlsoWrite | None = None) -> None:
        self._db = db
        self._also = also
        sqlite = db.dialect == "sqlite"
        mark = "?" if sqlite else "%s"
        marks = "(" + ", ".join([mark] * len(COLUMNS)) + ")"
        insert = f"INSERT INTO audit_events ({', '.join(COLUMNS)}) VALUES "  # noqa: S608 — constants only
        # SQLite: several rows per statement (see add_values); PostgreSQL: one per row.
        self._sqlite = sqlite
        self._statements = {
            size: insert + ", ".join([marks] * size)
            for size in (SQLITE_STATEMENT_ROWS if sqlite else (1,))
        }
        self._upsert = (
            f"INSERT INTO audit_spool (segment, drained) VALUES ({mark}, {mark}) "  # noqa: S608 — constants only
            "ON CONFLICT (segment) DO UPDATE SET drained = excluded.drained"
        )

    async def add_many(
        self, rows: Sequence[dict[str, object]], *, checkpoint: Position | None = None
    ) -> None:
        """Insert rows (at, outcome, subject, source, service, client_ip, error_code,
        document, nothing_granted) in one transaction; with ``checkpoint``, record in
        the same transaction that its spool segment is drained up to that offset."""
        await self.add_values([_values(row) for row in rows], checkpoint=checkpoint)

    async def add_values(
        self, rows: Sequence[Values], *, checkpoint: Position | None = None
    ) -> None:
        """:meth:`add_many` for rows already in :data:`~regauth.spool.COLUMNS` order, with
        ``at`` an aware datetime, ``service`` and ``error_code`` text, ``nothing_granted`` set."""
        if not rows and checkpoint is None:
            return
        # Thousands of rows a second: driver-level statements with plain tuples (the
        # ORM bulk path cost ~35 µs a row, Core ~12 µs); only the time is converted
        # here, to the form the dialect stores.
        time = _sqlite_time if self._sqlite else _utc
        values = [(time(row[0]), *row[1:]) for row in rows]
        async with self._db.engine.begin() as conn:
            if values:
                if not self._sqlite:
                    await conn.exec_driver_sql(self._statements[1], values)
                else:
                    # Python's sqlite3 releases and re-takes the GIL around every row of an
                    # executemany: in a worker whose event loop holds the GIL, each take
                    # costs a thread switch (~90 µs of CPU a row measured, against ~14 µs
                    # for rows sent many to one INSERT). One call per statement size (an
                    # executemany of whole statements): each call is a trip to the
                    # driver's thread and back, which waits for the event loop's turn.
                    sets: dict[int, list[tuple[Any, ...]]] = {}
                    for start, size in sqlite_chunks(len(values)):
                        chunk = values[start : start + size]
                        sets.setdefault(size, []).append(tuple(v for row in chunk for v in row))
                    for size, params in sets.items():
                        await conn.exec_driver_sql(self._statements[size], params)
                if self._also is not None:
                    await self._also(conn, [dict(zip(COLUMNS, row, strict=True)) for row in rows])
            if checkpoint is not None:
                await conn.exec_driver_sql(self._upsert, (checkpoint.segment, checkpoint.offset))

    async def drained(self) -> dict[str, int]:
        """How far each known spool segment is drained (bytes)."""
        async with self._db.session() as session:
            rows = (
                await session.execute(select(AuditSpoolRow.segment, AuditSpoolRow.drained))
            ).all()
        return {segment: drained for segment, drained in rows}

    async def forget_segments(self, segments: Sequence[str]) -> None:
        """Drop the drain marks of segments that no longer exist."""
        async with self._db.session() as session, session.begin():
            await session.execute(delete(AuditSpoolRow).where(AuditSpoolRow.segment.in_(segments)))

    async def list(
        self,
        *,
        subject: str | None = None,
        since: datetime | None = None,
        denied: bool = False,
        limit: int = 100,
    ) -> builtins.list[AuditRecord]:
        stmt = select(AuditRow).order_by(AuditRow.at.desc(), AuditRow.id.desc()).limit(limit)
        if subject is not None:
            stmt = stmt.where(AuditRow.subject == subject)
        if since is not None:
            stmt = stmt.where(AuditRow.at >= since)
        if denied:
            stmt = stmt.where(or_(AuditRow.outcome == "denied", AuditRow.nothing_granted))
        async with self._db.session() as session:
            rows = (await session.scalars(stmt)).all()
        return [_record(r) for r in rows]

    async def page(
        self,
        *,
        after_id: int = 0,
        subject: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        size: int = 1000,
    ) -> builtins.list[AuditRecord]:
        """Oldest first, ids above ``after_id``: export pages through the log with it."""
        stmt = select(AuditRow).where(AuditRow.id > after_id).order_by(AuditRow.id).limit(size)
        if subject is not None:
            stmt = stmt.where(AuditRow.subject == subject)
        if since is not None:
            stmt = stmt.where(AuditRow.at >= since)
        if until is not None:
            stmt = stmt.where(AuditRow.at < until)
        async with self._db.session() as session:
            rows = (await session.scalars(stmt)).all()
        return [_record(r) for r in rows]

    async def prune(self, before: datetime) -> int:
        """Delete the events older than ``before``; return how many."""
        async with self._db.session() as session, session.begin():
            result: Any = await session.execute(delete(AuditRow).where(AuditRow.at < before))
        return int(result.rowcount)


def _values(row: dict[str, object]) -> Values:
    """A row dict (a replayed spool line, a test) as :meth:`AuditStore.add_values` takes it."""
    at = row.get("at")
    if not isinstance(at, datetime):
        raise TypeError("an audit row's 'at' is a datetime")
    nothing = row.get("nothing_granted")
    return (
        at,
        row.get("outcome"),
        row.get("subject"),
        row.get("source"),
        row.get("service") or "",
        row.get("client_ip"),
        row.get("error_code") or "",
        row.get("document"),
        bool(nothing if nothing is not None else row.get("outcome") == "denied"),
    )


def _record(r: AuditRow) -> AuditRecord:
    return AuditRecord(
        r.id,
        r.at,
        r.outcome,
        r.subject,
        r.source,
        r.service,
        r.client_ip,
        r.error_code,
        r.document,
        r.nothing_granted,
    )
