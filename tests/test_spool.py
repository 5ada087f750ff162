"""The local audit spool: written (or fsynced) before the answer, replayed once after a crash."""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import anyio.to_thread
import orjson
import pytest

from regauth import spool as spool_module
from regauth.audit import DatabaseAudit
from regauth.service import AuditEvent
from regauth.spool import SUFFIX, Spool, decode, encode, recover
from regauth.store import AuditStore, Database
from regauth.store.audit import COLUMNS
from tests.conftest import Instance
from tests.test_audit import event


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def store(instance: Instance) -> AsyncIterator[AuditStore]:
    db = Database(instance.settings.database_url)
    yield AuditStore(db)
    await db.dispose()


async def _count(store: AuditStore) -> int:
    return len(await store.list(limit=10_000))


def _row(audit: DatabaseAudit, n: int = 0) -> dict[str, object]:
    """The n-th recorded row, as a dict of the columns."""
    return dict(zip(COLUMNS, audit._pending[n][0], strict=True))


def _lines(directory: Path) -> list[bytes]:
    (segment,) = directory.glob("*" + SUFFIX)
    return segment.read_bytes().splitlines(keepends=True)


def test_a_line_round_trips() -> None:
    audit = DatabaseAudit(None, spool=None)  # type: ignore[arg-type]
    audit.record(event(1))
    row = _row(audit)
    assert decode(encode(row)) == row
    assert decode(b'["torn') is None
    assert decode(b"[1, 2]\n") is None
    older = orjson.loads(encode(row))[:-1]  # a line from before nothing_granted existed
    assert decode(orjson.dumps(older)) == {**row, "nothing_granted": False}


@pytest.mark.anyio
async def test_the_recorded_line_embeds_the_document_and_reads_back_the_row(
    tmp_path: Path,
) -> None:
    audit = DatabaseAudit(None, spool=Spool(tmp_path))  # type: ignore[arg-type]
    audit.record(event(1))
    denied = event(2)
    audit.record(AuditEvent(denied.at, "denied", "s\x00vc", None, None, None, (), username="bo"))
    await audit.durable()  # no group-commit loop: synced at once
    lines = _lines(tmp_path)
    assert [decode(line) for line in lines] == [_row(audit, 0), _row(audit, 1)]
    document = str(_row(audit)["document"]).encode()
    assert lines[0].count(b"\\") == 0 and document in lines[0]  # embedded, not escaped again
    assert decode(encode(_row(audit), document)) == _row(audit)  # the replay encoder agrees
    assert decode(lines[0][:-5]) is None  # torn
    assert _row(audit, 1)["error_code"] == "" and _row(audit, 1)["nothing_granted"] is True
    await audit.close()


@pytest.mark.anyio
async def test_durable_waits_for_the_groups_fsync_then_the_rows_drain(
    tmp_path: Path, store: AuditStore
) -> None:
    spool = Spool(tmp_path / "spool", wait_for_fsync=True)
    audit = DatabaseAudit(store, spool=spool)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(spool.run)
        for n in range(10):
            audit.record(event(n))
        (segment,) = (tmp_path / "spool").glob("*" + SUFFIX)
        assert segment.stat().st_size == 0  # appended in memory: nothing written yet
        with anyio.fail_after(5):
            await audit.durable()
        lines = segment.read_bytes().splitlines(keepends=True)
        assert len(lines) == 10
        assert await _count(store) == 0  # on disk, not yet in the database
        await audit.flush()
        assert await _count(store) == 10
        assert (await store.drained()) == {segment.stem: segment.stat().st_size}
        tasks.cancel_scope.cancel()
    await audit.close()
    assert not segment.exists()  # fully drained: deleted


@pytest.mark.anyio
@pytest.mark.parametrize("wait", [False, True], ids=["background", "before_answer"])
async def test_a_dead_workers_segment_is_replayed_exactly_once(
    tmp_path: Path, store: AuditStore, wait: bool
) -> None:
    spool = Spool(tmp_path / "spool", wait_for_fsync=wait)
    audit = DatabaseAudit(store, spool=spool, chunk=3)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(spool.run)
        for n in range(4):
            audit.record(event(n))
        await audit.flush()  # these 4 reach the database, with their drain mark
        for n in range(4, 9):
            audit.record(event(n))
        await audit.durable()  # these 5 are only on disk when the worker "dies"
        tasks.cancel_scope.cancel()
    assert await recover(tmp_path / "spool", store) == 0  # its owner still holds the lock
    os.close(spool._fd)  # the process dies: its lock goes with it
    (segment,) = (tmp_path / "spool").glob("*" + SUFFIX)
    with segment.open("ab") as f:
        f.write(b'["2026-11-23T00:00:00+00:00", "iss')  # a torn last write
    assert await recover(tmp_path / "spool", store) == 5
    assert await _count(store) == 9
    assert not segment.exists()
    assert await store.drained() == {}
    assert await recover(tmp_path / "spool", store) == 0


@pytest.mark.anyio
@pytest.mark.parametrize("wait", [False, True], ids=["background", "before_answer"])
async def test_a_drained_segment_is_replaced_when_large(
    tmp_path: Path, store: AuditStore, wait: bool
) -> None:
    spool = Spool(tmp_path / "spool", max_segment=1, wait_for_fsync=wait, sync_interval=0.01)
    audit = DatabaseAudit(store, spool=spool)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(spool.run)
        audit.record(event(1))
        await audit.durable()
        await audit.flush()
        await _synced(spool, tmp_path / "spool")  # a segment is replaced once fsynced too
        first = spool.segment
        audit.record(event(2))  # the first segment is drained and over the size: replaced
        assert spool.segment != first
        assert [p.stem for p in (tmp_path / "spool").glob("*" + SUFFIX)] == [spool.segment]
        await audit.durable()
        await audit.flush()
        tasks.cancel_scope.cancel()
    await recover(tmp_path / "spool", store)  # forgets the first segment's mark
    assert set(await store.drained()) == {spool.segment}
    assert await _count(store) == 2


@pytest.mark.anyio
async def test_without_the_group_commit_loop_durable_syncs_at_once(
    tmp_path: Path, store: AuditStore
) -> None:
    spool = Spool(tmp_path / "spool", wait_for_fsync=True)
    audit = DatabaseAudit(store, spool=spool)
    audit.record(event(1))
    with anyio.fail_after(5):  # e.g. a reload cancelled the old runtime's loop
        await audit.durable()
    (segment,) = (tmp_path / "spool").glob("*" + SUFFIX)
    assert len(segment.read_bytes().splitlines()) == 1
    await audit.close()


async def _synced(spool: Spool, directory: Path) -> None:
    """Wait for the background fsync to cover the whole segment."""
    size = sum(map(len, _lines(directory)))
    for _ in range(500):
        if spool.synced >= size:
            return
        await anyio.sleep(0.01)
    raise AssertionError(f"fsynced up to {spool.synced} of {size} bytes after 5 s")


def _spool_threads() -> int:
    return sum(t.name == "regauth-spool" for t in threading.enumerate())


@pytest.mark.anyio
async def test_groups_are_synced_by_one_thread_that_ends_with_the_loop(
    tmp_path: Path, store: AuditStore
) -> None:
    spool = Spool(tmp_path / "spool", wait_for_fsync=True)
    audit = DatabaseAudit(store, spool=spool)
    before = _spool_threads()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(spool.run)
        await anyio.wait_all_tasks_blocked()  # the loop waits for work
        assert spool._running
        for group in range(3):
            for n in range(5):
                audit.record(event(group * 5 + n))
            with anyio.fail_after(5):
                await audit.durable()
            assert len(_lines(tmp_path / "spool")) == (group + 1) * 5
        assert _spool_threads() == before + 1
        tasks.cancel_scope.cancel()
    assert _spool_threads() == before
    await audit.close()
    assert await _count(store) == 15


@pytest.mark.anyio
async def test_a_loop_cancelled_during_an_fsync_finishes_it_before_writing_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = spool_module._write_and_sync
    started, release = threading.Event(), threading.Event()
    calls: list[str] = []  # what each write did, in the order it happened

    def slow_write(fd: int, data: bytes) -> None:
        calls.append(f"begin {data!r}")
        started.set()
        release.wait(5)
        real(fd, data)
        calls.append(f"end {data!r}")

    monkeypatch.setattr(spool_module, "_write_and_sync", slow_write)
    spool = Spool(tmp_path / "spool", wait_for_fsync=True)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(spool.run)
        await anyio.wait_all_tasks_blocked()
        spool.append(b'"first"\n')
        # the first group is in the spool's thread, not yet written
        assert await anyio.to_thread.run_sync(started.wait, 5)
        offset = spool.append(b'"second"\n')
        threading.Timer(0.2, release.set).start()  # the write ends after the cancellation
        tasks.cancel_scope.cancel()
    # The loop ended only once the group under way was written; the rest came after it.
    first, second = repr(b'"first"\n'), repr(b'"second"\n')
    assert calls == [f"begin {first}", f"end {first}", f"begin {second}", f"end {second}"]
    assert spool.synced == offset
    assert (tmp_path / "spool" / (spool.segment + SUFFIX)).read_bytes() == b'"first"\n"second"\n'
    spool.close()


@pytest.mark.anyio
async def test_a_failed_write_stops_answers_from_waiting_and_keeps_the_rows(
    tmp_path: Path, store: AuditStore, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path / "spool", wait_for_fsync=True)
    audit = DatabaseAudit(store, spool=spool)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(spool.run)
        await anyio.wait_all_tasks_blocked()
        audit.record(event(1))
        read_only = os.open(os.devnull, os.O_RDONLY)
        os.dup2(read_only, spool._fd)  # the segment's descriptor now refuses writes
        os.close(read_only)
        with anyio.fail_after(5):
            await audit.durable()
        audit.record(event(2))
        with anyio.fail_after(5):
            await audit.durable()  # given up: no more waiting
        tasks.cancel_scope.cancel()
    assert "audit spool unusable" in caplog.text
    await audit.close()
    assert await _count(store) == 2  # still reached the database from memory


@pytest.mark.anyio
async def test_in_background_mode_a_line_is_written_before_record_returns_and_fsynced_later(
    tmp_path: Path, store: AuditStore
) -> None:
    spool = Spool(tmp_path / "spool", wait_for_fsync=False, sync_interval=0.05)
    audit = DatabaseAudit(store, spool=spool)
    before = _spool_threads()
    assert not spool.waits
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(spool.run)
        await anyio.wait_all_tasks_blocked()
        for n in range(10):
            audit.record(event(n))
        # No await since: the lines are in the file (the kernel has them), not yet fsynced.
        lines = _lines(tmp_path / "spool")
        assert [decode(line) for line in lines] == [_row(audit, n) for n in range(10)]
        assert spool.synced == 0
        with anyio.fail_after(1):
            await audit.durable()  # nothing to wait for
        await _synced(spool, tmp_path / "spool")  # the interval's fsync, in the spool's thread
        assert _spool_threads() == before + 1
        await audit.flush()
        assert await _count(store) == 10
        tasks.cancel_scope.cancel()
    assert _spool_threads() == before
    await audit.close()


@pytest.mark.anyio
async def test_in_background_mode_a_failed_write_is_logged_and_keeps_the_rows(
    tmp_path: Path, store: AuditStore, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path / "spool", wait_for_fsync=False, sync_interval=0.01)
    audit = DatabaseAudit(store, spool=spool)
    audit.record(event(1))
    read_only = os.open(os.devnull, os.O_RDONLY)
    os.dup2(read_only, spool._fd)  # the segment's descriptor now refuses writes
    os.close(read_only)
    audit.record(event(2))  # does not raise: logged, and no further tries
    audit.record(event(3))
    assert caplog.text.count("audit spool unusable") == 1
    await audit.close()
    assert await _count(store) == 3  # still reached the database from memory


def test_the_fsync_interval_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sync_interval"):
        Spool(tmp_path, sync_interval=0)
