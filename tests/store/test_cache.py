"""The hot-path read caches: bounded staleness, writes through the wrapper drop entries."""

from __future__ import annotations

from pathlib import Path

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
