"""The hot-path read caches: bounded staleness, writes through the wrapper drop entries."""

from __future__ import annotations

from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from regauth.authn.throttle import Throttle
from regauth.config.throttle import ThrottleSettings
from regauth.errors import ThrottledError
from regauth.store import Database, TokenStore, UserStore
from regauth.store.cache import CachedTokens, CachedUsers, ReadCache
from tests.conftest import FrozenClock


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    Database(url).migrate()
    return url


@pytest.mark.anyio
async def test_user_changes_elsewhere_are_seen_after_the_ttl(url: str) -> None:
    clock = FrozenClock()
    db, other = Database(url), Database(url)
    try:
        await UserStore(other, clock).add("alice", "h1")
        cached = CachedUsers(db, clock, ttl=1.0)
        assert (await cached.get("alice")).disabled is False  # type: ignore[union-attr]
        await UserStore(other, clock).set_disabled("alice", True)  # another worker / the CLI
        assert (await cached.get("alice")).disabled is False  # type: ignore[union-attr]
        clock.advance(seconds=1.01)
        assert (await cached.get("alice")).disabled is True  # type: ignore[union-attr]
        await cached.set_password("alice", "h2")  # through the wrapper: seen at once
        assert (await cached.get("alice")).password_hash == "h2"  # type: ignore[union-attr]
    finally:
        await db.dispose()
        await other.dispose()


@pytest.mark.anyio
async def test_revoked_token_is_refused_within_the_ttl(url: str) -> None:
    clock = FrozenClock()
    db = Database(url)
    try:
        await UserStore(db, clock).add("alice", None)
        await TokenStore(db, clock).create(
            token_id="t1", user_name="alice", kind="pat", secret_hash="ab" * 32, expires_at=None
        )
        cached = CachedTokens(db, clock, ttl=1.0)
        assert (await cached.find_by_hash("ab" * 32)).revoked_at is None  # type: ignore[union-attr]
        await TokenStore(db, clock).revoke("t1")
        clock.advance(seconds=1.01)
        assert (await cached.find_by_hash("ab" * 32)).revoked_at is not None  # type: ignore[union-attr]
    finally:
        await db.dispose()


@pytest.mark.anyio
async def test_zero_ttl_disables_and_size_bounds() -> None:
    clock = FrozenClock()
    loads = 0

    async def load() -> int:
        nonlocal loads
        loads += 1
        return loads

    off: ReadCache[str, int] = ReadCache(clock, ttl=0)
    assert [await off.get("k", load) for _ in range(3)] == [1, 2, 3]
    small: ReadCache[str, int] = ReadCache(clock, ttl=10, size=2)
    for key in ("a", "b", "c"):
        await small.get(key, load)
    assert await small.get("b", load) == 5  # still cached
    assert await small.get("a", load) == 7  # evicted, loaded again


@pytest.mark.anyio
async def test_cached_throttle_sees_other_workers_after_the_ttl(url: str) -> None:
    clock = FrozenClock()
    a, b = Database(url), Database(url)
    settings = ThrottleSettings(max_failures_per_account=3, max_failures_per_address=0, window=60)
    try:
        mine = Throttle.build(a, settings, clock, cache_seconds=1.0)
        theirs = Throttle.build(b, settings, clock, cache_seconds=1.0)
        await mine.check("alice", None)
        for _ in range(2):
            await mine.failed("alice", None)
        await mine.check("alice", None)  # a snapshot (a clean account needs none)
        await theirs.failed("alice", None)  # another worker: not in my snapshot yet
        await mine.check("alice", None)
        clock.advance(seconds=1.01)
        with pytest.raises(ThrottledError):
            await mine.check("alice", None)
        for _ in range(3):
            await mine.failed("bob", None)  # my own failures count at once
        with pytest.raises(ThrottledError):
            await mine.check("bob", None)
    finally:
        await a.dispose()
        await b.dispose()


class Source:
    """A value to load, counting the loads; ``gate`` holds a load until it is set."""

    def __init__(self) -> None:
        self.value: object = "v1"
        self.loads = 0
        self.gate: anyio.Event | None = None
        self.fail = False

    async def load(self) -> object:
        self.loads += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise OSError("database away")
        return self.value


async def _settle() -> None:
    """Let the background reloads run to their end."""
    for _ in range(5):
        await anyio.lowlevel.checkpoint()


@pytest.mark.anyio
async def test_a_hit_in_the_second_half_of_the_ttl_reloads_in_the_background() -> None:
    clock, source = FrozenClock(), Source()
    cache: ReadCache[str, object] = ReadCache(clock, ttl=1.0)
    assert await cache.get("k", source.load) == "v1"
    source.value = "v2"
    clock.advance(seconds=0.4)
    assert await cache.get("k", source.load) == "v1"  # first half: a plain hit
    await _settle()
    assert source.loads == 1
    clock.advance(seconds=0.2)  # 0.6 s: answered from the entry, one reload starts
    source.gate = anyio.Event()
    assert [await cache.get("k", source.load) for _ in range(3)] == ["v1"] * 3
    await _settle()
    assert source.loads == 2  # one reload for the three hits
    source.gate.set()
    await _settle()
    assert await cache.get("k", source.load) == "v2"
    clock.advance(seconds=0.9)  # 1.5 s: the reload began at 0.6 s, its entry is still valid
    assert await cache.get("k", source.load) == "v2"
    await _settle()
    assert source.loads == 3  # and its second half began at 1.1 s: reloaded again
    await cache.aclose()


@pytest.mark.anyio
async def test_an_entry_nobody_asked_for_late_in_its_life_expires_and_loads_in_the_foreground() -> (
    None
):
    clock, source = FrozenClock(), Source()
    cache: ReadCache[str, object] = ReadCache(clock, ttl=1.0)
    await cache.get("k", source.load)
    source.value = "v2"
    clock.advance(seconds=1.0)  # expired: the value is never older than the TTL
    source.gate = anyio.Event()
    source.gate.set()
    assert await cache.get("k", source.load) == "v2"
    assert source.loads == 2


@pytest.mark.anyio
async def test_callers_at_the_expiry_wait_for_the_background_reload_under_way() -> None:
    clock, source = FrozenClock(), Source()
    cache: ReadCache[str, object] = ReadCache(clock, ttl=1.0)
    await cache.get("k", source.load)
    clock.advance(seconds=0.6)
    source.gate = anyio.Event()
    source.value = "v2"
    assert await cache.get("k", source.load) == "v1"
    clock.advance(seconds=0.45)  # 1.05 s: expired while the reload (begun at 0.6 s) runs
    async with anyio.create_task_group() as tasks:
        got: list[object] = []

        async def ask() -> None:
            got.append(await cache.get("k", source.load))

        for _ in range(3):
            tasks.start_soon(ask)
        await anyio.wait_all_tasks_blocked()
        assert got == []  # waiting for the one reload, not starting their own
        source.gate.set()
    assert got == ["v2"] * 3
    assert source.loads == 2
    await cache.aclose()


@pytest.mark.anyio
async def test_a_reload_of_the_same_value_keeps_the_object() -> None:
    clock, source = FrozenClock(), Source()
    source.value = ("alice", ["devs"])
    cache: ReadCache[str, object] = ReadCache(clock, ttl=1.0)
    first = await cache.get("k", source.load)
    source.value = ("alice", ["devs"])  # equal, another object
    clock.advance(seconds=0.6)
    await cache.get("k", source.load)
    await _settle()
    assert source.loads == 2
    assert await cache.get("k", source.load) is first
    await cache.aclose()


@pytest.mark.anyio
async def test_a_reload_overtaken_by_a_drop_is_discarded() -> None:
    clock, source = FrozenClock(), Source()
    cache: ReadCache[str, object] = ReadCache(clock, ttl=1.0)
    await cache.get("k", source.load)
    clock.advance(seconds=0.6)
    source.gate = anyio.Event()
    await cache.get("k", source.load)  # the reload reads the old value...
    await _settle()
    cache.drop("k")  # ...while a write through the wrapper drops the entry
    source.gate.set()
    await _settle()
    source.gate, source.value = None, "v2"
    assert await cache.get("k", source.load) == "v2"  # loaded afresh, not the stale reload
    assert source.loads == 3
    await cache.aclose()


@pytest.mark.anyio
async def test_a_failed_background_reload_leaves_the_entry_until_it_expires(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, source = FrozenClock(), Source()
    cache: ReadCache[str, object] = ReadCache(clock, ttl=1.0)
    await cache.get("k", source.load)
    source.fail = True
    clock.advance(seconds=0.6)
    assert await cache.get("k", source.load) == "v1"
    await _settle()
    assert source.loads == 2
    assert await cache.get("k", source.load) == "v1"  # still valid until 1 s
    clock.advance(seconds=0.5)
    with pytest.raises(OSError, match="database away"):
        await cache.get("k", source.load)  # the foreground load reports it
    assert "database away" not in caplog.text  # the background one only logs its class
    await cache.aclose()


@pytest.mark.anyio
async def test_aclose_cancels_the_reloads_under_way() -> None:
    clock, source = FrozenClock(), Source()
    cache: ReadCache[str, object] = ReadCache(clock, ttl=1.0)
    await cache.get("k", source.load)
    clock.advance(seconds=0.6)
    source.gate = anyio.Event()  # never set: the reload would wait for ever
    await cache.get("k", source.load)
    await _settle()
    assert cache._reloads
    with anyio.fail_after(5):
        await cache.aclose()
    assert not cache._reloads
