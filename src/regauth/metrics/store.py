"""Metric values shared by every worker of one server: one slot file per process.

Each process owns two files in the server's metrics directory (made by
``regauth serve`` and named by ``$REGAUTH_METRICS_DIR``): ``<pid>-<n>.keys``, the
series it has used, one JSON line each, in slot order (append-only), and
``<pid>-<n>.values``, a memory-mapped array of doubles, one per slot. Updating a
series is one in-place float addition on the mapping — no lock, no system
call — because each file has exactly one writer, the process's event-loop
thread. A scrape, in any process, reads every file and adds the values up per
series, so ``/metrics`` shows the whole server, and a worker that was replaced
(``SIGHUP`` respawns them) still counts: its files stay.

Without a directory (tests, an embedded app) the values live in process
memory: the same code, nothing shared.

A reader may see a key before its value was first written (it reads 0) or a
value past the keys it read (ignored until the next scrape); doubles are
written whole, so a value is never torn.
"""

from __future__ import annotations

import json
import logging
import mmap
import os
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger("regauth.metrics")
ENV = "REGAUTH_METRICS_DIR"
CAPACITY = 8192  # series per process (64 KiB of doubles)
Key = tuple[str, tuple[tuple[str, str], ...]]  # (sample name, label pairs)
STAMP = ":set_at"  # suffix of the series that records when a gauge was set


class SlotFile:
    """This process's series: ``slot(key)`` once per series, then ``values[slot] += x``."""

    def __init__(self, directory: Path | None, pid: int | None = None) -> None:
        self._slots: dict[Key, int] = {}
        self._keys: Path | None = None
        self._map: mmap.mmap | None = None
        if directory is None:
            self.values = memoryview(bytearray(8 * CAPACITY)).cast("d")
            return
        stem = _claim(directory, os.getpid() if pid is None else pid)
        with (directory / f"{stem}.values").open("r+b") as raw:
            raw.truncate(8 * CAPACITY)
            self._map = mmap.mmap(raw.fileno(), 8 * CAPACITY)
        self.values = memoryview(self._map).cast("d")
        self._keys = directory / f"{stem}.keys"
        self._keys.touch()

    def slot(self, key: Key) -> int:
        """The slot of ``key``, allocated (and published) on first use."""
        found = self._slots.get(key)
        if found is not None:
            return found
        slot = len(self._slots)
        if slot >= CAPACITY - 1:  # the last slot absorbs the overflow, unpublished
            log.warning("more than %d metric series in one process: %s not kept", CAPACITY, key)
            return CAPACITY - 1
        self._slots[key] = slot
        if self._keys is not None:  # rare (a new series): open, append one line, close
            with self._keys.open("a", encoding="utf-8") as keys:
                keys.write(json.dumps([key[0], key[1]]) + "\n")
        return slot

    def local(self) -> dict[Key, float]:
        return {key: self.values[slot] for key, slot in self._slots.items()}


def _claim(directory: Path, pid: int) -> str:
    """A file name no other process of this server used: a reused pid must not erase
    the counts of the dead process that had it first."""
    for n in range(1000):
        stem = f"{pid}-{n}"
        try:
            (directory / f"{stem}.values").open("xb").close()
        except FileExistsError:
            continue
        return stem
    raise OSError(f"no free metrics file name for pid {pid} in {directory}")


def read_all(directory: Path | None, own: SlotFile) -> dict[Key, float]:
    """Every process's series added up (only ``own`` without a directory)."""
    if directory is None:
        return own.local()
    totals: dict[Key, float] = {}
    for series in _files(directory):
        for key, value in series:
            totals[key] = totals.get(key, 0.0) + value
    return totals


def read_latest(directory: Path | None, own: SlotFile) -> dict[Key, float]:
    """Gauges: per series, the value some process set most recently.

    A gauge's series ``(name, labels)`` has a companion ``(name + STAMP, labels)``
    holding when it was set; summing would count a server-wide value once per
    worker, and the largest could be a dead worker's last word.
    """
    files = [own.local().items()] if directory is None else _files(directory)
    newest: dict[Key, tuple[float, float]] = {}
    for series in files:
        values = dict(series)
        for (name, labels), at in values.items():
            if not name.endswith(STAMP):
                continue
            key = (name.removesuffix(STAMP), labels)
            if key in values and at >= newest.get(key, (-1.0, 0.0))[0]:
                newest[key] = (at, values[key])
    return {key: value for key, (_, value) in newest.items()}


def _files(directory: Path) -> Iterator[list[tuple[Key, float]]]:
    for keys_file in directory.glob("*.keys"):
        try:
            lines = keys_file.read_text(encoding="utf-8").split("\n")[:-1]  # complete lines
            raw = keys_file.with_suffix(".values").read_bytes()
        except OSError:
            continue
        values = memoryview(raw[: len(raw) - len(raw) % 8]).cast("d")
        series: list[tuple[Key, float]] = []
        for slot, line in enumerate(lines[: len(values)]):
            try:
                name, labels = json.loads(line)
                key: Key = (str(name), tuple((str(k), str(v)) for k, v in labels))
            except (ValueError, TypeError):
                continue
            series.append((key, values[slot]))
        yield series
