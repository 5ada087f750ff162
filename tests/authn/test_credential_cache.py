"""LocalUsers: the verified-login cache, and constant cost for unknown users."""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import timedelta

import anyio
import bcrypt
import pytest

from regauth.authn.local import LocalUsers, VerifiedLogins
from regauth.authn.passwords import PasswordHasher, Verification
from regauth.domain.credentials import BasicCredential, BearerCredential
from regauth.errors import InvalidCredential
from regauth.ports import Authenticated, CallerFacts, NoOpinion, Outcome, Rejected
from regauth.store import Database, UserStore
from regauth.store.cache import CachedUsers
from tests.conftest import FrozenClock

pytestmark = pytest.mark.anyio

FACTS = CallerFacts(client_ip="192.0.2.1", service="registry.test")
FAST = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}


class CountingHasher(PasswordHasher):
    """The real hasher, counting verifications."""

    def __init__(self, **params: int) -> None:
        super().__init__(**params)
        self.verifications = 0
        self.delay = 0.0  # seconds: a slow hash, so that logins overlap
        self.gate: anyio.Event | None = None  # when set: each hash waits for it

    async def averify(self, stored: str | None, password: str) -> Verification:
        self.verifications += 1
        await anyio.sleep(self.delay)
        if self.gate is not None:
            await self.gate.wait()
        return await super().averify(stored, password)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def users(db: Database, clock: FrozenClock) -> UserStore:
    return UserStore(db, clock)


@pytest.fixture
def hasher() -> CountingHasher:
    return CountingHasher(**FAST)


@pytest.fixture
async def local(users: UserStore, hasher: CountingHasher, clock: FrozenClock) -> LocalUsers:
    await users.add("alice", hasher.hash("alice-pw"), groups=["dev"])
    await users.add("bob", hasher.hash("bob-pw"))
    return LocalUsers(users, hasher, clock)


async def login(local: LocalUsers, user: str, password: str) -> Outcome:
    return await local.authenticate(BasicCredential(user, password), FACTS)


async def assert_ok(local: LocalUsers, user: str, password: str) -> Authenticated:
    outcome = await login(local, user, password)
    assert isinstance(outcome, Authenticated), outcome
    return outcome


async def test_second_login_skips_the_hasher(local: LocalUsers, hasher: CountingHasher) -> None:
    first = await assert_ok(local, "alice", "alice-pw")
    second = await assert_ok(local, "alice", "alice-pw")
    assert hasher.verifications == 1
    assert first.principal == second.principal
    assert second.principal.groups == {"dev"}
    assert len(local.cache) == 1


async def test_a_hit_still_reads_the_user(
    local: LocalUsers, users: UserStore, hasher: CountingHasher
) -> None:
    await assert_ok(local, "alice", "alice-pw")
    await users.set_groups("alice", ["ops"])
    hit = await assert_ok(local, "alice", "alice-pw")
    assert hasher.verifications == 1
    assert hit.principal.groups == {"ops"}


async def test_cache_is_per_user_and_password(local: LocalUsers, hasher: CountingHasher) -> None:
    await assert_ok(local, "alice", "alice-pw")
    await assert_ok(local, "bob", "bob-pw")
    assert hasher.verifications == 2
    assert isinstance(await login(local, "bob", "alice-pw"), Rejected)
    assert hasher.verifications == 3


async def test_wrong_password_is_never_cached(local: LocalUsers, hasher: CountingHasher) -> None:
    await assert_ok(local, "alice", "alice-pw")
    for _ in range(2):
        outcome = await login(local, "alice", "wrong")
        assert isinstance(outcome, Rejected)
        assert isinstance(outcome.error, InvalidCredential)
    assert hasher.verifications == 3
    assert len(local.cache) == 1


async def test_unknown_user_is_never_cached(local: LocalUsers, hasher: CountingHasher) -> None:
    for _ in range(2):
        assert await login(local, "nobody", "pw") == NoOpinion()
    assert hasher.verifications == 2
    assert len(local.cache) == 0


@pytest.mark.parametrize("new_password", ["new-pw", "alice-pw"])
async def test_password_change_invalidates(
    local: LocalUsers, users: UserStore, hasher: CountingHasher, new_password: str
) -> None:
    await assert_ok(local, "alice", "alice-pw")
    # Any change of the stored hash, even to the same password (a new salt), forces a verify.
    await users.set_password("alice", hasher.hash(new_password))
    outcome = await login(local, "alice", "alice-pw")
    assert isinstance(outcome, Authenticated) == (new_password == "alice-pw")
    assert hasher.verifications == 2
    await assert_ok(local, "alice", new_password)


async def test_change_by_another_worker_is_effective_at_once(
    local: LocalUsers, db: Database, clock: FrozenClock, hasher: CountingHasher
) -> None:
    await assert_ok(local, "alice", "alice-pw")
    other = Database(db.url)
    try:
        await UserStore(other, clock).set_password("alice", hasher.hash("changed"))
    finally:
        await other.dispose()
    assert isinstance(await login(local, "alice", "alice-pw"), Rejected)


async def test_disable_invalidates(
    local: LocalUsers, users: UserStore, hasher: CountingHasher
) -> None:
    await assert_ok(local, "alice", "alice-pw")
    await users.set_disabled("alice", True)
    outcome = await login(local, "alice", "alice-pw")
    assert isinstance(outcome, Rejected)
    assert outcome.error.detail == "account disabled"
    assert hasher.verifications == 2  # refused only after a full verify (same timing)
    await users.set_disabled("alice", False)
    await assert_ok(local, "alice", "alice-pw")
    assert hasher.verifications == 3  # the entry was dropped, not kept for later


async def test_expired_password_invalidates(
    local: LocalUsers, users: UserStore, clock: FrozenClock, hasher: CountingHasher
) -> None:
    stored = hasher.hash("carol-pw")
    await users.add("carol", stored)
    await users.set_password("carol", stored, expires_at=clock.now() + timedelta(seconds=30))
    await assert_ok(local, "carol", "carol-pw")
    clock.advance(seconds=31)
    outcome = await login(local, "carol", "carol-pw")
    assert isinstance(outcome, Rejected)
    assert outcome.error.detail == "password expired"


async def test_entries_expire_after_the_ttl(
    users: UserStore, clock: FrozenClock, hasher: CountingHasher
) -> None:
    await users.add("alice", hasher.hash("alice-pw"))
    local = LocalUsers(users, hasher, clock, renew_after=1)  # no renewals
    await assert_ok(local, "alice", "alice-pw")
    clock.advance(seconds=59)
    await assert_ok(local, "alice", "alice-pw")
    assert hasher.verifications == 1
    clock.advance(seconds=1)
    await assert_ok(local, "alice", "alice-pw")
    assert hasher.verifications == 2  # and cached again from now on
    await assert_ok(local, "alice", "alice-pw")
    assert hasher.verifications == 2


async def test_ttl_zero_disables_the_cache(
    local: LocalUsers, users: UserStore, hasher: CountingHasher, clock: FrozenClock
) -> None:
    uncached = LocalUsers(users, hasher, clock, cache_ttl=0)
    for _ in range(3):
        await assert_ok(uncached, "alice", "alice-pw")
    assert hasher.verifications == 3
    assert len(uncached.cache) == 0
    assert not uncached.cache.enabled


async def test_cache_is_bounded(
    users: UserStore, hasher: CountingHasher, clock: FrozenClock
) -> None:
    for name in ("u1", "u2", "u3"):
        await users.add(name, hasher.hash(f"{name}-pw"))
    small = LocalUsers(users, hasher, clock, cache_size=2)
    for name in ("u1", "u2", "u1", "u3"):  # u1 used again: u2 is the oldest
        await assert_ok(small, name, f"{name}-pw")
    assert len(small.cache) == 2
    assert hasher.verifications == 3
    await assert_ok(small, "u1", "u1-pw")
    assert hasher.verifications == 3
    await assert_ok(small, "u2", "u2-pw")
    assert hasher.verifications == 4


async def test_bcrypt_upgrade_caches_the_new_hash(
    users: UserStore, hasher: CountingHasher, clock: FrozenClock
) -> None:
    legacy = bcrypt.hashpw(b"dave-pw", bcrypt.gensalt(rounds=4)).decode()
    await users.add("dave", legacy)
    local = LocalUsers(users, hasher, clock)
    await assert_ok(local, "dave", "dave-pw")
    record = await users.get("dave")
    assert record is not None
    assert record.password_hash is not None
    assert record.password_hash.startswith("$argon2id$")
    await assert_ok(local, "dave", "dave-pw")
    assert hasher.verifications == 1


async def test_cache_holds_no_password(
    local: LocalUsers, users: UserStore, hasher: CountingHasher, clock: FrozenClock
) -> None:
    await assert_ok(local, "alice", "alice-pw")
    key = local.cache.key("alice", "alice-pw")
    assert len(key) == 32
    assert b"alice-pw" not in key
    # Keyed by a per-process secret: another process derives other keys.
    assert LocalUsers(users, hasher, clock).cache.key("alice", "alice-pw") != key
    # Length-prefixed: moving a character across the boundary changes the key.
    assert local.cache.key("ab", "c") != local.cache.key("a", "bc")


async def test_other_credentials_are_not_ours(local: LocalUsers) -> None:
    assert await local.authenticate(BearerCredential("x"), FACTS) == NoOpinion()


def test_negative_settings_are_refused(clock: FrozenClock) -> None:
    with pytest.raises(ValueError, match="negative"):
        LocalUsers(None, None, clock, cache_ttl=-1)  # type: ignore[arg-type]


# --- timing: an unknown user costs what a known user with a wrong password costs --------------

TRIES = 40
ATTEMPTS = 3
TOLERANCE = 0.20
REALISTIC = {"time_cost": 1, "memory_cost": 16384, "parallelism": 1}


class LeakyHasher(PasswordHasher):
    """What the timing test must catch: no hash at all for an unknown user."""

    async def averify(self, stored: str | None, password: str) -> Verification:
        if stored is None:
            return Verification(ok=False, needs_rehash=False)
        return await super().averify(stored, password)


async def _timed(local: LocalUsers, user: str, password: str) -> float:
    start = time.perf_counter()
    outcome = await login(local, user, password)
    elapsed = time.perf_counter() - start
    assert not isinstance(outcome, Authenticated)
    return elapsed


async def median_times(local: LocalUsers) -> tuple[float, float]:
    """Median seconds for (known user + wrong password, unknown user), alternating."""
    known: list[float] = []
    unknown: list[float] = []
    for _ in range(3):  # warm up: threads, connections, caches
        await _timed(local, "alice", "wrong")
        await _timed(local, "nobody", "wrong")
    for i in range(TRIES):
        pairs = [(known, "alice"), (unknown, f"nobody{i}")]
        for bucket, user in pairs if i % 2 else reversed(pairs):
            bucket.append(await _timed(local, user, "wrong-password"))
    return statistics.median(known), statistics.median(unknown)


def close_enough(known: float, unknown: float) -> bool:
    return abs(unknown - known) <= TOLERANCE * known


async def timing_verdict(local: LocalUsers) -> tuple[bool, list[tuple[float, float]]]:
    """Up to ATTEMPTS measurements (a loaded CI machine is noisy); True on the first good one."""
    seen: list[tuple[float, float]] = []
    for _ in range(ATTEMPTS):
        known, unknown = await median_times(local)
        seen.append((known, unknown))
        if close_enough(known, unknown):
            return True, seen
    return False, seen


async def _timing_setup(users: UserStore, clock: FrozenClock, hasher: PasswordHasher) -> LocalUsers:
    await users.add("alice", hasher.hash("alice-pw"), groups=["dev", "ops"])
    return LocalUsers(users, hasher, clock)


@pytest.mark.serial
async def test_unknown_user_costs_as_much_as_a_wrong_password(
    users: UserStore, clock: FrozenClock
) -> None:
    local = await _timing_setup(users, clock, PasswordHasher(**REALISTIC))
    ok, seen = await timing_verdict(local)
    assert ok, f"median seconds (known+wrong, unknown) per attempt: {seen}"


@pytest.mark.serial
async def test_the_timing_check_catches_a_skipped_hash(
    users: UserStore, clock: FrozenClock
) -> None:
    local = await _timing_setup(users, clock, LeakyHasher(**REALISTIC))
    known, unknown = await median_times(local)
    assert not close_enough(known, unknown), (known, unknown)
    assert unknown < known


async def test_identical_logins_in_flight_share_one_verification(
    local: LocalUsers, hasher: CountingHasher
) -> None:
    outcomes: list[Outcome] = []
    hasher.delay = 0.1

    async def one() -> None:
        outcomes.append(await login(local, "alice", "alice-pw"))

    async with anyio.create_task_group() as tasks:
        for _ in range(8):
            tasks.start_soon(one)
    assert hasher.verifications == 1
    assert all(isinstance(o, Authenticated) for o in outcomes)


async def test_identical_wrong_logins_are_each_verified_and_refused(
    local: LocalUsers, hasher: CountingHasher
) -> None:
    outcomes: list[Outcome] = []
    hasher.delay = 0.05

    async def one() -> None:
        outcomes.append(await login(local, "alice", "wrong"))

    async with anyio.create_task_group() as tasks:
        for _ in range(3):
            tasks.start_soon(one)
    assert hasher.verifications == 3  # failures are never shared or remembered
    assert all(isinstance(o, Rejected) for o in outcomes)


async def test_the_principal_is_made_once_per_record_read(
    db: Database, users: UserStore, local: LocalUsers, clock: FrozenClock
) -> None:
    first = await assert_ok(local, "alice", "alice-pw")
    assert first.principal.groups == frozenset({"dev"})
    await users.set_groups("alice", ["ops"])  # a new record on the next read: a new principal
    again = await assert_ok(local, "alice", "alice-pw")
    assert again.principal.groups == frozenset({"ops"})
    cached = LocalUsers(CachedUsers(db, clock, ttl=1), local._hasher, clock)
    one = await assert_ok(cached, "alice", "alice-pw")
    two = await assert_ok(cached, "alice", "alice-pw")
    assert one.principal is two.principal  # the same cached record: made once
    await users.set_groups("alice", ["dev", "ops"])
    clock.advance(seconds=1)
    three = await assert_ok(cached, "alice", "alice-pw")
    assert three.principal.groups == frozenset({"dev", "ops"})


async def _renewals_done(local: LocalUsers) -> None:
    if local._renewals:
        with anyio.fail_after(5):
            await asyncio.wait(list(local._renewals))
    assert not local._renewals


async def test_a_hit_late_in_the_entrys_life_renews_it_in_the_background(
    local: LocalUsers, clock: FrozenClock, hasher: CountingHasher
) -> None:
    await assert_ok(local, "alice", "alice-pw")
    clock.advance(seconds=47)  # before the last fifth of the 60 s: a plain hit
    await assert_ok(local, "alice", "alice-pw")
    await _renewals_done(local)
    assert hasher.verifications == 1
    hasher.gate = anyio.Event()  # the renewal's hash waits until the hits are answered
    clock.advance(seconds=1)  # 48 s: answered from the entry, the hash runs meanwhile
    for _ in range(3):
        await assert_ok(local, "alice", "alice-pw")
    assert len(local._renewals) == 1  # nobody waited for it: still under way
    hasher.gate.set()
    await _renewals_done(local)
    assert hasher.verifications == 2  # one renewal for the three hits
    clock.advance(seconds=59)  # 107 s: the renewed entry (from 48 s) still holds
    await assert_ok(local, "alice", "alice-pw")
    await _renewals_done(local)
    assert hasher.verifications == 3  # and was due itself: renewed once more
    await local.aclose()


async def test_logins_at_the_expiry_wait_for_the_renewal_under_way(
    local: LocalUsers, clock: FrozenClock, hasher: CountingHasher
) -> None:
    await assert_ok(local, "alice", "alice-pw")
    clock.advance(seconds=50)
    hasher.delay = 0.2
    await assert_ok(local, "alice", "alice-pw")  # starts the renewal
    clock.advance(seconds=10)  # 60 s: the entry expired while the renewal runs
    async with anyio.create_task_group() as tasks:
        for _ in range(3):
            tasks.start_soon(assert_ok, local, "alice", "alice-pw")
    assert hasher.verifications == 2  # they joined the renewal instead of hashing again
    await local.aclose()


async def test_a_renewal_that_no_longer_verifies_drops_the_entry(
    local: LocalUsers, users: UserStore, clock: FrozenClock, hasher: CountingHasher
) -> None:
    await assert_ok(local, "alice", "alice-pw")
    clock.advance(seconds=50)

    async def refuse(stored: str | None, password: str) -> Verification:
        hasher.verifications += 1
        return await PasswordHasher.averify(hasher, None, password)  # as if the hash failed

    hasher.averify = refuse  # type: ignore[method-assign]
    await assert_ok(local, "alice", "alice-pw")  # answered from the entry
    await _renewals_done(local)
    assert len(local.cache) == 0  # dropped: the next login is verified in the foreground
    outcome = await login(local, "alice", "alice-pw")
    assert isinstance(outcome, Rejected)
    await local.aclose()


async def test_aclose_cancels_a_renewal_under_way(
    local: LocalUsers, clock: FrozenClock, hasher: CountingHasher
) -> None:
    await assert_ok(local, "alice", "alice-pw")
    clock.advance(seconds=50)
    hasher.delay = 30  # a renewal that would outlive the test
    await assert_ok(local, "alice", "alice-pw")
    await anyio.sleep(0.01)
    assert local._renewals
    with anyio.fail_after(5):
        await local.aclose()
    assert not local._renewals


def test_the_cache_key_is_a_mac_under_a_per_process_secret() -> None:
    one, other = VerifiedLogins(FrozenClock(), 60, 10), VerifiedLogins(FrozenClock(), 60, 10)
    key = one.key("alice", "pw")
    assert len(key) == 32 and key == one.key("alice", "pw")
    assert key != other.key("alice", "pw")  # another secret: nothing to precompute
    # Length-prefixed: the split between name and password is part of the message.
    assert len({key, one.key("alicep", "w"), one.key("alic", "epw"), one.key("alice", "pW")}) == 4
    assert b"pw" not in key and b"alice" not in key
