"""The audit log of token decisions (SPEC §7): append in batches, list with filters."""

from __future__ import annotations

import builtins
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from regauth.store.database import Database
from regauth.store.models_authz import AuditRow


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


COLUMNS = ("at", "outcome", "subject", "source", "service", "client_ip", "error_code", "document")


def _stored(row: dict[str, object], column: str, sqlite: bool) -> object:
    value = row.get(column)
    if column == "at" and isinstance(value, datetime):
        value = value.astimezone(UTC)
        # SQLite: the text form SQLAlchemy's DATETIME reads back (naive, UTC by convention).
        return value.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else value
    if column in ("service", "error_code") and value is None:
        return ""
    return value


# Called inside the audit batch's transaction with its rows (the events outbox hooks in here).
AlsoWrite = Callable[[AsyncConnection, Sequence[dict[str, object]]], Awaitable[None]]


class AuditStore:
    def __init__(self, db: Database, *, also: AlsoWrite | None = None) -> None:
        self._db = db
        self._also = also

    async def add_many(self, rows: Sequence[dict[str, object]]) -> None:
        """Insert rows: at, outcome, subject, source, service, client_ip, error_code, document."""
        if not rows:
            return
        # Thousands of rows a second: a driver-level executemany of plain tuples
        # (the ORM bulk path cost ~35 µs a row, Core ~12 µs, this ~3 µs).
        sqlite = self._db.dialect == "sqlite"
        mark = "?" if sqlite else "%s"
        sql = f"INSERT INTO audit_events ({', '.join(COLUMNS)}) VALUES ({', '.join([mark] * 8)})"  # noqa: S608 — constants only
        values = [tuple(_stored(row, c, sqlite) for c in COLUMNS) for row in rows]
        async with self._db.engine.begin() as conn:
            await conn.exec_driver_sql(sql, values)
            if self._also is not None:
                await self._also(conn, rows)

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
            stmt = stmt.where(AuditRow.outcome == "denied")
        async with self._db.session() as session:
            rows = (await session.scalars(stmt)).all()
        return [
            AuditRecord(
                r.id,
                r.at,
                r.outcome,
                r.subject,
                r.source,
                r.service,
                r.client_ip,
                r.error_code,
                r.document,
            )
            for r in rows
        ]
