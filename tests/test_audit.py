"""The batched audit sink: every event reaches the store, optionally the log; failures retry."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import orjson
import pytest

from regauth.audit import DatabaseAudit, event_document
from regauth.domain.policy import Grant
from regauth.domain.scope import parse_scope
from regauth.service import AuditEvent
from regauth.spool import Values
from regauth.store import AuditStore
from regauth.store.audit import COLUMNS


class FakeStore:
    def __init__(self, fail: int = 0) -> None:
        self.batches: list[list[dict[str, object]]] = []
        self.fail = fail

    async def add_values(self, rows: Sequence[Values], *, checkpoint: object = None) -> None:
        if self.fail:
            self.fail -= 1
            raise RuntimeError("database is locked")
        self.batches.append([dict(zip(COLUMNS, row, strict=True)) for row in rows])


def event(n: int) -> AuditEvent:
    item = parse_scope(f"repository:team/app{n}:pull,push")
    grant = Grant.start(item).narrow("account", ["pull"], "config:1")
    at = datetime(2026, 11, 23, tzinfo=UTC)
    return AuditEvent(at, "issued", "svc", "10.0.0.1", "alice", "local", (item,), (grant,))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_events_are_written_in_chunks_with_their_trace() -> None:
    store = FakeStore()
    audit = DatabaseAudit(store, chunk=2)  # type: ignore[arg-type]
    for n in range(5):
        audit.record(event(n))
    await audit.flush()
    assert [len(b) for b in store.batches] == [2, 2, 1]
    doc = orjson.loads(str(store.batches[0][0]["document"]))
    assert doc["granted"][0]["trace"] == [
        {"stage": "account", "actions": ["pull"], "reason": "config:1"}
    ]


@pytest.mark.anyio
async def test_a_failed_write_is_retried_with_the_next_batch(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = FakeStore(fail=1)
    audit = DatabaseAudit(store)  # type: ignore[arg-type]
    audit.record(event(1))
    await audit.flush()
    audit.record(event(2))
    await audit.flush()
    assert [len(b) for b in store.batches] == [2]
    assert "will retry" in caplog.text


@pytest.mark.anyio
async def test_log_lines_only_when_asked(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("regauth.audit")
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.INFO, "regauth.audit")
    try:
        quiet = DatabaseAudit(FakeStore())  # type: ignore[arg-type]
        quiet.record(event(1))
        await quiet.flush()
        assert not caplog.records
        loud = DatabaseAudit(FakeStore(), log_lines=True)  # type: ignore[arg-type]
        loud.record(event(1))
        await loud.flush()
        assert orjson.loads(caplog.records[0].getMessage())["subject"] == "alice"
    finally:
        logger.removeHandler(caplog.handler)


def test_store_type_is_the_real_one() -> None:
    assert hasattr(AuditStore, "add_values") and hasattr(AuditStore, "add_many")


@pytest.mark.anyio
async def test_caller_text_is_stored_as_the_columns_hold_it() -> None:
    """A NUL or an overlong name from a client must not make the batch unwritable."""
    store = FakeStore()
    audit = DatabaseAudit(store)  # type: ignore[arg-type]
    name = "bo\x00b" + "x" * 400
    audit.record(AuditEvent(event(1).at, "denied", "s\x00vc", None, None, None, (), username=name))
    await audit.flush()
    (row,) = store.batches[0]
    assert row["subject"] == ("bo\ufffdb" + "x" * 400)[:255]
    assert row["service"] == "s\ufffdvc"
    assert orjson.loads(str(row["document"]))["username"] == name  # kept whole, escaped


@pytest.mark.anyio
async def test_a_recorded_document_is_the_event_document_whether_its_grants_recur_or_not() -> None:
    store = FakeStore()
    audit = DatabaseAudit(store)  # type: ignore[arg-type]
    shared = event(1)
    same_grants = AuditEvent(shared.at, "denied", "svc", None, None, None, (), shared.grants, "x")
    events = [shared, event(2), shared, same_grants, event(1)]  # the last: equal, not the same
    for item in events:
        audit.record(item)
    await audit.flush()
    documents = [str(row["document"]) for row in store.batches[0]]
    plain = [orjson.dumps(event_document(item)).decode() for item in events]
    assert documents == plain
    assert orjson.loads(documents[3])["granted"][0]["actions"] == ["pull"]
