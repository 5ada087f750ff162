"""SingleFlight and the read cache: concurrent misses on one key make one load."""

from __future__ import annotations

import anyio
import pytest

from regauth.singleflight import SingleFlight
from regauth.store.cache import ReadCache
from tests.conftest import FrozenClock

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class SlowLoad:
    def __init__(self, fail_first: bool = False) -> None:
        self.calls = 0
        self.fail_first = fail_first

    async def __call__(self) -> str:
        self.calls += 1
        await anyio.sleep(0.05)
        if self.fail_first and self.calls == 1:
            raise RuntimeError("database is locked")
        return f"value-{self.calls}"


async def test_concurrent_misses_share_one_load(clock: FrozenClock) -> None:
    cache: ReadCache[str, str] = ReadCache(clock, ttl=1)
    load = SlowLoad()
    results: list[str] = []

    async def get() -> None:
        results.append(await cache.get("alice", load))

    async with anyio.create_task_group() as tasks:
        for _ in range(16):
            tasks.start_soon(get)
    assert load.calls == 1
    assert results == ["value-1"] * 16


async def test_other_keys_are_not_held_up(clock: FrozenClock) -> None:
    cache: ReadCache[str, str] = ReadCache(clock, ttl=1)
    loads = {"a": SlowLoad(), "b": SlowLoad()}
    async with anyio.create_task_group() as tasks:
        for key in ("a", "b", "a", "b"):
            tasks.start_soon(cache.get, key, loads[key])
    assert [loads["a"].calls, loads["b"].calls] == [1, 1]


async def test_a_failed_load_is_not_shared_the_next_caller_loads_again(
    clock: FrozenClock,
) -> None:
    cache: ReadCache[str, str] = ReadCache(clock, ttl=1)
    load = SlowLoad(fail_first=True)
    results: list[str] = []
    errors: list[Exception] = []

    async def get() -> None:
        try:
            results.append(await cache.get("alice", load))
        except RuntimeError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tasks:
        for _ in range(4):
            tasks.start_soon(get)
    assert len(errors) == 1  # only the leader saw its own failure
    assert load.calls == 2  # one waiter led a second load, the rest shared it
    assert results == ["value-2"] * 3


async def test_expired_entries_are_loaded_again_once(clock: FrozenClock) -> None:
    cache: ReadCache[str, str] = ReadCache(clock, ttl=1)
    load = SlowLoad()
    assert await cache.get("alice", load) == "value-1"
    clock.advance(seconds=2)
    async with anyio.create_task_group() as tasks:
        for _ in range(8):
            tasks.start_soon(cache.get, "alice", load)
    assert load.calls == 2


async def test_a_cancelled_leader_releases_its_waiters() -> None:
    flight: SingleFlight[str] = SingleFlight()
    woke = anyio.Event()

    async def leader(scope: anyio.CancelScope) -> None:
        with scope:
            async with flight.lead("k"):
                await anyio.sleep(10)

    async def waiter() -> None:
        assert await flight.wait("k") is True
        woke.set()

    leading = anyio.CancelScope()
    with anyio.fail_after(2):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(leader, leading)
            await anyio.sleep(0.01)
            tasks.start_soon(waiter)
            await anyio.sleep(0.01)
            leading.cancel()
            await woke.wait()
    assert len(flight) == 0
    assert await flight.wait("k") is False


async def test_begin_and_end_lead_a_load_that_runs_in_a_task_of_its_own() -> None:
    flight: SingleFlight[str] = SingleFlight()
    done = flight.begin("k")
    assert flight.running("k") and len(flight) == 1
    woke: list[bool] = []

    async def waiter() -> None:
        woke.append(await flight.wait("k"))

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(waiter)
        await anyio.wait_all_tasks_blocked()
        assert woke == []
        flight.end("k", done)
    assert woke == [True] and not flight.running("k")
    assert await flight.wait("k") is False  # nothing under way any more
    stale = flight.begin("k")
    newer = flight.begin("k")  # (a lead never overlaps one under way; if it did:)
    flight.end("k", stale)  # the older end leaves the newer load marked
    assert flight.running("k")
    flight.end("k", newer)
    assert not flight.running("k")
