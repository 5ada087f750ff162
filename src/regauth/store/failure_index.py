"""Which login-failure counters may be non-zero, shared by every process of one SQLite database.

A successful login on an account and address that never failed should cost
nothing, yet a failure recorded by any worker must be seen at once. This index
is a memory-mapped file next to the database (``<database>-throttle``, as
SQLite keeps ``-wal`` and ``-shm``), so every process that opens the database
shares it, whatever server or worker it belongs to. Each counter name (by its
SHA-256, as in the database) falls into one of :data:`BUCKETS` buckets; a
bucket holds four 64-bit words:

``expiry``
    microseconds since the epoch until which some counter in the bucket may
    have failures. Read without a lock: when it is in the past, no counter of
    the bucket has failures in its current window, and the caller may skip
    the database altogether.
``state``
    ``seq << 16 | pending``: ``seq`` grows on every change; ``pending`` counts
    failures being written (marked before the database write, unmarked after
    it, committed or not).
``owner``
    a 60-bit fingerprint of the only counter marked since the bucket was
    last clear, or :data:`SHARED` when two counters were.
``epoch``
    the ``seq`` at which the bucket was first marked after being clear.

A failure marks its buckets *before* its database write: a reader that sees a
clear bucket is earlier than the failure. A bucket clears when its expiry
passes (every window in it has ended then; a counter's window never outlasts
the last failure's time plus the window) or, after a success reset the
counter in the database, when nothing changed in the bucket since just before
that reset, no failure is being written in it, and its only owner is the
counter that was reset (:meth:`FailureIndex.unmark`). A bucket shared by two
counters, or a write that died half-way (its ``pending`` stays), only waits
for its expiry: collisions cost speed, never a missed failure.

Writers (failures and clears, rare) serialize with ``flock`` on the file; a
reader reads one aligned 8-byte word, never torn.
"""

from __future__ import annotations

import fcntl
import mmap
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

MAGIC = 0x31584948_54414752  # b"RGATHIX1" little-endian
BUCKETS = 1 << 14
HEADER_WORDS = 8  # magic, buckets, window µs, database device, database inode
WORDS = 4  # per bucket: expiry, state, owner, epoch
SIZE = 8 * (HEADER_WORDS + WORDS * BUCKETS)  # 512 KiB + 64 bytes
SHARED = -1
PENDING = 0xFFFF  # saturated: the bucket waits for its expiry

# One active counter as the database holds it: its hashed name and the end of its window (µs).
Active = Callable[[], Iterable[tuple[str, int]]]


@dataclass(frozen=True, slots=True)
class Slot:
    """Where a hashed counter name lives in the index."""

    bucket: int  # index of the bucket's first word
    owner: int

    @classmethod
    def of(cls, hashed: str) -> Slot:
        return cls(HEADER_WORDS + WORDS * (int(hashed[:8], 16) % BUCKETS), int(hashed[8:23], 16))


class FailureIndex:
    """The shared index of one SQLite database file (see the module's documentation)."""

    def __init__(self, fd: int, mapping: mmap.mmap, window_us: int) -> None:
        self._fd = fd
        self._map = mapping
        self._words = memoryview(mapping).cast("q")
        self._window_us = window_us

    @classmethod
    def open(cls, database: Path, window_us: int, active: Active, now_us: int) -> FailureIndex:
        """Map ``<database>-throttle``, building it from ``active`` when new or stale.

        Stale: written for another database file (the database was replaced).
        Raises OSError when the file cannot be made or mapped.
        """
        stat = database.stat()
        path = database.with_name(database.name + "-throttle")
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            with _locked(fd):
                if os.fstat(fd).st_size < SIZE:
                    os.ftruncate(fd, SIZE)
                index = cls(fd, mmap.mmap(fd, SIZE), window_us)
                words = index._words
                header = (MAGIC, BUCKETS, stat.st_dev, stat.st_ino)
                if (words[0], words[1], words[3], words[4]) != header:
                    words[0] = 0  # unusable until built
                    for n in range(HEADER_WORDS, len(words)):
                        words[n] = 0
                    words[1], words[3], words[4] = BUCKETS, stat.st_dev, stat.st_ino
                    words[2] = window_us
                    index._mark_active(active, now_us)
                    words[0] = MAGIC
                elif words[2] < window_us:  # a longer window than the marks were made with
                    words[2] = window_us
                    index._mark_active(active, now_us)
        except BaseException:
            os.close(fd)
            raise
        return index

    def clear(self, slots: Iterable[Slot], now_us: int) -> bool:
        """No counter among ``slots`` has failures in its window (no lock, no system call)."""
        words = self._words
        return all(words[s.bucket] <= now_us for s in slots)

    def marked(self, slot: Slot, now_us: int) -> bool:
        return self._words[slot.bucket] > now_us

    def states(self, slots: Iterable[Slot]) -> list[int]:
        """The buckets' ``state`` words, taken before a read or reset that may unmark them."""
        return [self._words[s.bucket + 1] for s in slots]

    def mark(self, slots: Sequence[Slot], now_us: int) -> list[int]:
        """Before a failure's write: mark its counters; returns the epochs for :meth:`done`."""
        with _locked(self._fd):
            expiry = now_us + max(self._window_us, self._words[2])
            return [self._mark(s, expiry, now_us, 1) for s in slots]

    def done(self, slots: Sequence[Slot], epochs: Sequence[int]) -> None:
        """After a failure's write (committed or not): it is no longer pending."""
        words = self._words
        with _locked(self._fd):
            for slot, epoch in zip(slots, epochs, strict=True):
                b = slot.bucket
                seq, pending = divmod(words[b + 1], 1 << 16)
                if words[b + 3] == epoch and 0 < pending < PENDING:
                    pending -= 1
                words[b + 1] = (seq + 1) << 16 | pending

    def unmark(self, slots: Sequence[Slot], states: Sequence[int]) -> None:
        """The database holds no failures for ``slots`` (read or reset after ``states``)."""
        words = self._words
        with _locked(self._fd):
            for slot, state in zip(slots, states, strict=True):
                b = slot.bucket
                unchanged = words[b + 1] == state and state % (1 << 16) == 0
                if unchanged and words[b + 2] == slot.owner:
                    words[b] = 0
                    words[b + 1] = ((state >> 16) + 1) << 16

    def close(self) -> None:
        if not self._map.closed:
            self._words.release()
            self._map.close()
            os.close(self._fd)

    def _mark(self, slot: Slot, expiry: int, now_us: int, pending: int) -> int:
        words = self._words
        b = slot.bucket
        seq, waiting = divmod(words[b + 1], 1 << 16)
        seq += 1
        if words[b] <= now_us:  # clear: a new epoch owned by this counter
            words[b + 2], words[b + 3] = slot.owner, seq
            waiting = 0
        elif words[b + 2] != slot.owner:
            words[b + 2] = SHARED
        if waiting < PENDING:
            waiting = min(PENDING, waiting + pending)
        words[b] = max(words[b], expiry)
        words[b + 1] = seq << 16 | waiting
        return int(words[b + 3])

    def _mark_active(self, active: Active, now_us: int) -> None:
        for hashed, ends_us in active():
            if ends_us > now_us:
                self._mark(Slot.of(hashed), ends_us, now_us, 0)


class _locked:
    """``flock`` held for a few microseconds of in-memory updates (never across an await)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def __enter__(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *_: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
