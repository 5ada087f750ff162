"""The local audit spool: each record is in the kernel before its answer, in the database after.

Every worker process appends its audit records to its own segment file in
``[audit] spool_dir`` (one JSON array per line) and holds an exclusive
``flock`` on it while it lives. How a record is made safe before its answer
leaves depends on ``[audit] spool_fsync``:

- ``"background"``: :meth:`Spool.append` writes the line with
  one ``write(2)`` before it returns, so the record is in the kernel's page
  cache before the answer is sent and survives the death of the process
  (``kill -9``, the OOM killer, a crash). A task fsyncs the segment every
  ``spool_fsync_interval`` seconds in a thread; nobody waits for it, so a
  power cut or a kernel crash can lose the records of the last interval.
- ``"before_answer"`` (the default): writes are *group commits*: one task writes and
  fsyncs whatever accumulated, in a thread, while the event loop goes on;
  the records that arrive during one fsync form the next group. A request
  waits for its group's fsync (:meth:`Spool.durable`), never for the
  database: about one fsync of latency, and the record also survives a
  power cut on a disk that honours fsync.

:class:`~regauth.audit.DatabaseAudit` drains the rows into the database in
batches; each batch's transaction also records how far the segment is
drained (table ``audit_spool``), so after a crash :func:`recover` replays
exactly the rows past that point — from any segment whose owner is gone (its
lock is free) — and deletes the file. A fully drained segment is replaced by
a new one once it exceeds ``max_segment`` bytes.

If the spool cannot be written (disk full), the error is logged, answers no
longer wait, and the records still reach the database from memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import anyio
import anyio.to_thread
import orjson

from regauth.store.audit import COLUMNS

log = logging.getLogger("regauth.audit")
SUFFIX = ".spool"
Row = dict[str, object]
# One row as a tuple in COLUMNS order (``at`` a datetime, ``document`` the JSON text):
# what the audit sink keeps between a decision and its batch, and what the store inserts.
Values = tuple[Any, ...]
DOCUMENT = COLUMNS.index("document")


@dataclass(frozen=True, slots=True)
class Position:
    """The end of a record in a segment: everything before ``offset`` is that far."""

    segment: str
    offset: int


class RowSink(Protocol):
    async def add_many(
        self, rows: Sequence[Row], *, checkpoint: Position | None = None
    ) -> None: ...

    async def drained(self) -> dict[str, int]: ...

    async def forget_segments(self, segments: Sequence[str]) -> None: ...


def encode(row: Row, document: bytes | None = None) -> bytes:
    """One line; ``document``, when given, is the row's document as serialised JSON,
    embedded as it is (a JSON value, not a string that escapes it once more)."""
    at = row["at"]
    values: list[object] = [at.isoformat() if isinstance(at, datetime) else at]
    values += [row.get(c) for c in COLUMNS[1:]]
    if document is not None:
        values[DOCUMENT] = orjson.Fragment(document)
    return orjson.dumps(values) + b"\n"


def decode(line: bytes) -> Row | None:
    """A row from one complete line; None for a torn or foreign line."""
    try:
        values = orjson.loads(line)
        if isinstance(values, list) and len(values) == len(COLUMNS) - 1:
            values.append(False)  # written before nothing_granted was recorded
        row: Row = dict(zip(COLUMNS, values, strict=True))
        row["at"] = datetime.fromisoformat(str(row["at"]))
        if not isinstance(row["document"], str):  # embedded as JSON: the column holds text
            row["document"] = orjson.dumps(row["document"]).decode()
    except (orjson.JSONDecodeError, TypeError, ValueError):
        return None
    return row


class Spool:
    """This process's segment: append, wait for the group's fsync, rotate when drained."""

    def __init__(
        self,
        directory: Path,
        *,
        max_segment: int = 64 * 1024 * 1024,
        wait_for_fsync: bool = True,
        sync_interval: float = 1.0,
    ) -> None:
        """``wait_for_fsync``: group commits that :meth:`durable` waits for (``before_answer``);
        else each line is written at once and fsynced every ``sync_interval`` seconds."""
        if sync_interval <= 0:
            raise ValueError("sync_interval must be positive")
        self._dir = directory
        self._max = max_segment
        self._waits = wait_for_fsync
        self._interval = sync_interval
        self._serial = 0
        self._fd = -1
        self._segment = ""
        self._buffer: list[bytes] = []
        self._size = 0  # bytes appended to this segment (written or in the buffer)
        self._synced = 0  # bytes known to be on disk
        self._drained = 0  # bytes known to be in the database
        self._wakeup = asyncio.Event()
        self._group_done = asyncio.Event()
        self._broken = False
        self._running = False
        self._syncer: _Syncer | None = None

    @property
    def directory(self) -> Path:
        return self._dir

    @property
    def segment(self) -> str:
        return self._segment

    @property
    def waits(self) -> bool:
        """True when answers wait for their record's fsync (``before_answer``)."""
        return self._waits

    @property
    def synced(self) -> int:
        """How far the current segment is known to be fsynced (bytes)."""
        return self._synced

    def append(self, line: bytes) -> int:
        """Write (or, waiting for fsync, buffer) one line; returns where it ends in
        :attr:`segment` (read it after the call: the append may have started a new segment)."""
        if self._fd < 0 or self._rotation_due():
            self._open_segment()
        if self._waits:
            self._buffer.append(line)
            if not self._wakeup.is_set():
                self._wakeup.set()
        elif not self._broken:
            try:
                _write_all(self._fd, line)  # in the kernel before the answer: kill -9 safe
            except OSError as exc:
                self._give_up(exc)
        self._size += len(line)
        return self._size

    async def durable(self, segment: str, offset: int) -> None:
        """Return once ``segment`` is on disk up to ``offset`` (a rotated one was fully synced).

        Without ``wait_for_fsync`` at once: :meth:`append` already wrote the line."""
        if not self._waits:
            return
        while segment == self._segment and self._synced < offset:
            if self._broken:
                return
            if not self._running:  # no group-commit loop (stopped by a reload, or a test)
                self._sync_now()
                return
            done = self._group_done
            await done.wait()

    def drained(self, segment: str, offset: int) -> None:
        if segment == self._segment:
            self._drained = max(self._drained, offset)

    async def run(self) -> None:
        """The fsync loop (one per process); what is left is synced when it stops."""
        self._running = True
        syncer = self._syncer = _Syncer()
        try:
            if not self._waits:
                await self._sync_every_interval(syncer)
            while True:
                await self._wakeup.wait()
                # One turn of the event loop before closing the group: the requests
                # already under way append their records and share this fsync.
                await asyncio.sleep(0)
                self._wakeup = asyncio.Event()
                data, upto, fd = b"".join(self._buffer), self._size, self._fd
                self._buffer = []
                if data:
                    try:
                        await syncer.write(fd, data)
                    except OSError as exc:
                        self._give_up(exc)
                self._group_committed(upto)
        finally:
            self._running = False
            syncer.stop()  # after a write still under way: the file stays in order
            self._sync_now()

    async def _sync_every_interval(self, syncer: _Syncer) -> None:
        """Background mode: fsync what was written since the last turn, every interval."""
        while True:
            await anyio.sleep(self._interval)
            upto = self._size
            if upto > self._synced and self._fd >= 0 and not self._broken:
                # No rotation while this runs: a segment is replaced only once synced.
                try:
                    await syncer.write(self._fd, b"")
                except OSError as exc:
                    self._give_up(exc)
            self._group_committed(upto)

    def _sync_now(self) -> None:
        """Write and fsync the buffer in the caller's thread (the loop is not running)."""
        data, upto = b"".join(self._buffer), self._size
        self._buffer = []
        if (data or upto > self._synced) and self._fd >= 0 and not self._broken:
            try:
                _write_and_sync(self._fd, data)
            except OSError as exc:
                self._give_up(exc)
        self._group_committed(upto)

    def _group_committed(self, upto: int) -> None:
        self._synced = max(self._synced, upto)
        done, self._group_done = self._group_done, asyncio.Event()
        done.set()

    def _give_up(self, exc: OSError) -> None:
        if not self._broken:
            log.error("audit spool unusable, answers no longer wait for it: %s", exc)
        self._broken = True

    def close(self) -> None:
        """Close the segment; delete it when everything in it reached the database."""
        if self._fd < 0:
            return
        os.close(self._fd)
        self._fd = -1
        if self._drained >= self._size:
            with contextlib.suppress(OSError):
                (self._dir / (self._segment + SUFFIX)).unlink()

    def _rotation_due(self) -> bool:
        settled = self._drained == self._synced == self._size and not self._buffer
        return settled and self._size >= self._max

    def _open_segment(self) -> None:
        old = (self._fd, self._dir / (self._segment + SUFFIX)) if self._fd >= 0 else None
        self._dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._serial += 1
        name = f"{socket.gethostname()}-{os.getpid()}-{time.time_ns()}-{self._serial}"
        path = self._dir / (name + SUFFIX)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        fd = os.open(path, flags, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        _sync_directory(self._dir)
        self._fd, self._segment = fd, name
        self._size = self._synced = self._drained = 0
        if old is not None:  # fully drained: its checkpoint row goes with the next recovery
            os.close(old[0])
            with contextlib.suppress(OSError):
                old[1].unlink()


STOP_SECONDS = 10.0  # how long a stopping spool waits for a write under way
Job = tuple[int, bytes, asyncio.AbstractEventLoop, "asyncio.Future[None]"]


class _Syncer:
    """The group-commit loop's own thread: write and fsync one group at a time.

    Handing a group over costs one put on a C queue and one ``call_soon_threadsafe``
    back; a thread pool (``anyio.to_thread``) costs a capacity limiter, a
    Python-level queue and condition and a cancel scope per group, in the event
    loop's thread. The server runs on asyncio (granian, uvicorn), so the group's
    future is an asyncio one.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name="regauth-spool", daemon=True)
        self._thread.start()

    async def write(self, fd: int, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._jobs.put((fd, data, loop, done))
        # Shielded: a cancelled caller leaves the write to the thread, and :meth:`stop`
        # waits for it, so nothing written afterwards can overtake it.
        await asyncio.shield(done)

    def stop(self) -> None:
        """End the thread once the groups handed over are written (waits for them)."""
        self._jobs.put(None)
        self._thread.join(timeout=STOP_SECONDS)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            fd, data, loop, done = job
            error: OSError | None = None
            try:
                _write_and_sync(fd, data)
            except OSError as exc:
                error = exc
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(_settle, done, error)


def _settle(done: asyncio.Future[None], error: OSError | None) -> None:
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _write_and_sync(fd: int, data: bytes) -> None:
    _write_all(fd, data)
    os.fdatasync(fd)


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


async def recover(directory: Path, sink: RowSink, *, chunk: int = 500) -> int:
    """Replay the undrained rows of every segment whose owner is gone; returns how many."""
    paths = await anyio.to_thread.run_sync(_segments, directory)
    if paths is None:
        return 0
    replayed = 0
    for path in paths:
        replayed += await _replay(path, sink, chunk)
    present = {p.stem for p in paths}
    gone = [s for s in await sink.drained() if s not in present]
    if gone:
        await sink.forget_segments(gone)
    return replayed


async def _replay(path: Path, sink: RowSink, chunk: int) -> int:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return 0
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0  # its worker is alive, or another one is replaying it
        if not _still_there(fd, path):
            return 0  # replayed and deleted by another worker meanwhile
        start = (await sink.drained()).get(path.stem, 0)  # read under the lock
        data = await anyio.to_thread.run_sync(_read_from, fd, start)
        rows: list[tuple[Row, Position]] = []
        offset = start
        for line in data.splitlines(keepends=True):
            offset += len(line)
            row = decode(line) if line.endswith(b"\n") else None
            if row is not None:
                rows.append((row, Position(path.stem, offset)))
        for first in range(0, len(rows), chunk):
            part = rows[first : first + chunk]
            await sink.add_many([r for r, _ in part], checkpoint=part[-1][1])
        await anyio.to_thread.run_sync(path.unlink)
        await sink.forget_segments([path.stem])
        if rows:
            log.warning("recovered %d audit records from %s", len(rows), path.name)
        return len(rows)
    finally:
        os.close(fd)


def _still_there(fd: int, path: Path) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except OSError:
        return False


def _segments(directory: Path) -> list[Path] | None:
    return sorted(directory.glob("*" + SUFFIX)) if directory.is_dir() else None


def _read_from(fd: int, start: int) -> bytes:
    os.lseek(fd, start, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)
