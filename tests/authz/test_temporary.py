"""ActiveGrants: one load per TTL, judged by the request time handed in (never its own)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import anyio
import anyio.lowlevel
import pytest

from regauth.authz.temporary import ActiveGrants
from regauth.domain.grants import TemporaryGrant
from tests.conftest import FrozenClock

pytestmark = pytest.mark.anyio
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ENDS = int(T0.timestamp()) + 60
GRANT = TemporaryGrant(1, "team/app", ("push",), "board", ENDS, "then")


class Loader:
    def __init__(self) -> None:
        self.loads: list[datetime] = []

    async def __call__(self, now: datetime) -> Mapping[str, tuple[TemporaryGrant, ...]]:
        self.loads.append(now)
        return {"alice": (GRANT,)}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_loads_once_per_ttl_of_the_given_times_and_drops_ended_grants() -> None:
    load = Loader()
    clock = FrozenClock(T0 + timedelta(days=1))  # never read: the times given count
    grants = ActiveGrants(load, clock, ttl=10, refresh_after=1)  # no background reloads
    assert await grants.active("alice", T0) == (GRANT,)
    assert await grants.active("bob", T0 + timedelta(seconds=9)) == ()
    assert load.loads == [T0]
    assert await grants.active("alice", T0 + timedelta(seconds=10)) == (GRANT,)
    assert load.loads == [T0, T0 + timedelta(seconds=10)]
    assert await grants.active("alice", T0 + timedelta(seconds=59)) == (GRANT,)
    assert await grants.active("alice", T0 + timedelta(seconds=60)) == ()  # ended at 60 s
    assert load.loads == [T0, T0 + timedelta(seconds=10), T0 + timedelta(seconds=59)]


async def test_without_a_ttl_every_decision_loads() -> None:
    load = Loader()
    grants = ActiveGrants(load, FrozenClock(), ttl=0)
    for _ in range(3):
        assert await grants.active("alice", T0) == (GRANT,)
    assert load.loads == [T0] * 3


async def test_half_a_ttl_on_a_decision_reloads_in_the_background() -> None:
    load = Loader()
    gate = anyio.Event()

    async def slow(now: datetime) -> Mapping[str, tuple[TemporaryGrant, ...]]:
        if load.loads:
            await gate.wait()  # the reload waits until the decisions below are made
        return await load(now)

    grants = ActiveGrants(slow, FrozenClock(), ttl=10)
    assert await grants.active("alice", T0) == (GRANT,)
    assert await grants.active("alice", T0 + timedelta(seconds=4)) == (GRANT,)
    await anyio.wait_all_tasks_blocked()
    assert load.loads == [T0]  # first half: the snapshot as it is
    for _ in range(3):  # 6 s: answered from the snapshot, one reload starts
        assert await grants.active("alice", T0 + timedelta(seconds=6)) == (GRANT,)
    await anyio.wait_all_tasks_blocked()
    assert grants._reloads and load.loads == [T0]  # under way, nobody waited
    gate.set()
    await anyio.wait_all_tasks_blocked()
    await anyio.lowlevel.checkpoint()  # the ended task is let go one turn later
    assert not grants._reloads and load.loads == [T0, T0 + timedelta(seconds=6)]
    # the snapshot now counts from 6 s: at 15 s no decision waits, it is only due again
    assert await grants.active("alice", T0 + timedelta(seconds=15)) == (GRANT,)
    await anyio.wait_all_tasks_blocked()
    assert load.loads[-1] == T0 + timedelta(seconds=15)
    await grants.aclose()


async def test_a_decision_at_the_ttl_waits_for_the_reload_under_way() -> None:
    load = Loader()
    gate = anyio.Event()

    async def slow(now: datetime) -> Mapping[str, tuple[TemporaryGrant, ...]]:
        if load.loads:
            await gate.wait()
        return await load(now)

    grants = ActiveGrants(slow, FrozenClock(), ttl=10)
    await grants.active("alice", T0)
    await grants.active("alice", T0 + timedelta(seconds=6))  # the reload starts, held
    await anyio.wait_all_tasks_blocked()
    got: list[tuple[TemporaryGrant, ...]] = []

    async def decide() -> None:
        got.append(await grants.active("alice", T0 + timedelta(seconds=10)))

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(decide)
        await anyio.wait_all_tasks_blocked()
        assert got == []  # stale: waits for the reload instead of using the old snapshot
        gate.set()
    assert got == [(GRANT,)]
    assert load.loads == [T0, T0 + timedelta(seconds=6)]  # one reload served both


async def test_a_failed_background_reload_leaves_the_snapshot_until_its_ttl() -> None:
    load = Loader()

    async def flaky(now: datetime) -> Mapping[str, tuple[TemporaryGrant, ...]]:
        if load.loads:
            raise OSError("database away")
        return await load(now)

    grants = ActiveGrants(flaky, FrozenClock(), ttl=10)
    await grants.active("alice", T0)
    assert await grants.active("alice", T0 + timedelta(seconds=6)) == (GRANT,)
    await anyio.wait_all_tasks_blocked()
    await anyio.lowlevel.checkpoint()
    assert not grants._reloads
    assert await grants.active("alice", T0 + timedelta(seconds=9)) == (GRANT,)
    with pytest.raises(OSError, match="database away"):
        await grants.active("alice", T0 + timedelta(seconds=10))  # reported in the foreground
    await grants.aclose()


async def test_aclose_cancels_a_reload_under_way() -> None:
    started = anyio.Event()

    async def hangs(now: datetime) -> Mapping[str, tuple[TemporaryGrant, ...]]:
        if started.is_set():
            await anyio.sleep_forever()
        started.set()
        return {}

    grants = ActiveGrants(hangs, FrozenClock(), ttl=10)
    await grants.active("alice", T0)
    await grants.active("alice", T0 + timedelta(seconds=6))
    await anyio.wait_all_tasks_blocked()
    assert grants._reloads
    with anyio.fail_after(5):
        await grants.aclose()
    assert not grants._reloads
