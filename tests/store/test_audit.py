"""The audit store's batch insert: every row lands once, in order, with its spool mark."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import event

from regauth.spool import Position
from regauth.store import AuditStore, Database
from regauth.store.audit import SQLITE_STATEMENT_ROWS, sqlite_chunks

START = datetime(2026, 12, 2, 4, 0, 0, 123456, tzinfo=UTC)


def rows(count: int) -> list[tuple[Any, ...]]:
    return [
        (
            START + timedelta(milliseconds=n),
            "issued" if n % 3 else "denied",
            f"user{n}" if n % 5 else None,
            "local",
            "registry.test",
            "10.0.0.1",
            "" if n % 3 else "auth.invalid_credential",
            f'{{"n": {n}}}',
            n % 3 == 0,
        )
        for n in range(count)
    ]


PER = SQLITE_STATEMENT_ROWS[0]  # rows in the largest statement


@pytest.mark.anyio
@pytest.mark.parametrize("count", [1, PER, 2 * PER + 37])
async def test_a_batch_is_stored_whole_and_in_order(db: Database, count: int) -> None:
    store = AuditStore(db)
    batch = rows(count)
    await store.add_values(batch, checkpoint=Position("segment-a", 4096))
    stored = await store.list(limit=count + 10)
    assert len(stored) == count
    assert [r.document for r in reversed(stored)] == [row[7] for row in batch]
    newest = stored[0]
    at, outcome, subject, source, service, ip, code, document, nothing = batch[-1]
    assert (newest.at.replace(tzinfo=UTC), newest.outcome, newest.subject) == (at, outcome, subject)
    assert (newest.source, newest.service, newest.client_ip) == (source, service, ip)
    assert (newest.error_code, newest.document, newest.nothing_granted) == (code, document, nothing)
    assert await store.drained() == {"segment-a": 4096}


@pytest.mark.anyio
async def test_sqlite_takes_many_rows_per_statement(db: Database) -> None:
    """Python's sqlite3 gives up and re-takes the GIL around each row of an executemany,
    which in a busy worker costs a thread switch a row: on SQLite rows go many to one
    INSERT. PostgreSQL's driver takes the batch as one executemany."""
    inserts: list[tuple[int, int]] = []

    def seen(_conn: Any, _cursor: Any, statement: str, params: Any, _ctx: Any, many: bool) -> None:
        if statement.startswith("INSERT INTO audit_events"):
            inserts.append((statement.count("?") // 9, len(params) if many else 0))

    event.listen(db.engine.sync_engine, "before_cursor_execute", seen)
    try:
        await AuditStore(db).add_values(rows(2 * PER + 37))
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", seen)
    if db.dialect == "postgresql":
        assert inserts == [(0, 2 * PER + 37)]  # "%s" marks: one row's statement, many times
        return
    # 237 rows: two statements of a hundred rows, three of ten, seven of one; one call
    # (an executemany of whole statements) per size.
    assert inserts == [(100, 2), (10, 3), (1, 7)]
    assert 9 * PER <= 999  # the smallest bound-parameter limit of any SQLite build


@given(st.integers(min_value=0, max_value=5000))
def test_sqlite_chunks_cover_a_batch_in_order_with_few_statements(count: int) -> None:
    pieces = list(sqlite_chunks(count))
    covered = [n for start, size in pieces for n in range(start, start + size)]
    assert covered == list(range(count))
    assert {size for _, size in pieces} <= set(SQLITE_STATEMENT_ROWS)
    assert len(pieces) <= count // PER + 9 + 9
