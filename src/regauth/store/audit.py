"""The audit log of token decisions (SPEC §7): append in batches, list with filters."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, insert, select

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


class AuditStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add_many(self, rows: Sequence[dict[str, object]]) -> None:
        """Insert rows: at, outcome, subject, source, service, client_ip, error_code, document."""
        if not rows:
            return
        # Core executemany on the table (not the ORM bulk path): ~10x cheaper per row.
        table = cast(Table, AuditRow.__table__)
        async with self._db.engine.begin() as conn:
            await conn.execute(insert(table), builtins.list(rows))

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
