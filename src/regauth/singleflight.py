"""One load at a time per key: concurrent callers wait for the first one's result.

Every read cache on the hot path expires entries together for all the
requests in flight: when a hot entry expires under load, each of the (say 16)
concurrent requests would otherwise run the same database query — or the same
100 ms password hash — at once, which showed up as a 60 ms p99 once a second.
With :class:`SingleFlight` the first caller for a key is the leader and runs
the load; the others wait for it to finish and then look again (a leader that
failed or was cancelled leaves nothing, so the next caller leads a new load).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from typing import Generic, TypeVar

import anyio

K = TypeVar("K", bound=Hashable)


class SingleFlight(Generic[K]):
    def __init__(self) -> None:
        self._running: dict[K, anyio.Event] = {}

    async def wait(self, key: K) -> bool:
        """Wait for a load of ``key`` in progress; True if there was one (so look again)."""
        running = self._running.get(key)
        if running is None:
            return False
        await running.wait()
        return True

    @asynccontextmanager
    async def lead(self, key: K) -> AsyncIterator[None]:
        """Mark ``key`` as loading for the duration of the block; waiters resume after it."""
        done = self.begin(key)
        try:
            yield
        finally:
            self.end(key, done)

    def running(self, key: K) -> bool:
        return key in self._running

    def begin(self, key: K) -> anyio.Event:
        """:meth:`lead` without a block (a load that runs in a task of its own); call
        :meth:`end` with the event returned once it is over, whatever happened."""
        done = self._running[key] = anyio.Event()
        return done

    def end(self, key: K, done: anyio.Event) -> None:
        if self._running.get(key) is done:
            del self._running[key]
        done.set()

    def __len__(self) -> int:
        return len(self._running)
