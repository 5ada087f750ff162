"""Login throttling: counters in the database, shared by workers; per account and address."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest
from pydantic import ValidationError
from sqlalchemy import event, text

from regauth.authn.throttle import Throttle, address_key
from regauth.config.throttle import ThrottleSettings
from regauth.errors import ThrottledError
from regauth.store import Database
from regauth.store.failure_index import Slot
from regauth.store.throttle import FailureStore, _micros, hashed_key
from regauth.web.problems import problem_response
from tests.conftest import FrozenClock

pytestmark = pytest.mark.anyio

SETTINGS = ThrottleSettings(max_failures_per_account=3, max_failures_per_address=5, window=300)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def db_file(migrated_db_url: str) -> str:
    """A migrated database URL, on SQLite and PostgreSQL (the counters are shared by workers)."""
    return migrated_db_url


@pytest.fixture
async def db(db_file: str) -> AsyncIterator[Database]:
    database = Database(db_file)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def store(db: Database, clock: FrozenClock) -> FailureStore:
    return FailureStore(db, clock, window=300)


@pytest.fixture
def throttle(db: Database, clock: FrozenClock) -> Throttle:
    return Throttle.build(db, SETTINGS, clock)


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """The SQL statements run on ``db`` inside the block."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        seen.append(sql.split()[0].upper())

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


async def fail(throttle: Throttle, times: int, user: str | None, ip: str | None) -> None:
    for _ in range(times):
        await throttle.check(user, ip)
        await throttle.failed(user, ip)


# --- FailureStore ----------------------------------------------------------------------------


async def test_store_counts_per_key(store: FailureStore) -> None:
    await store.record_failure(["account:alice", "ip:192.0.2.1"])
    await store.record_failure(["account:alice", "account:alice"])  # one statement, one count
    got = await store.failures(["account:alice", "ip:192.0.2.1", "account:bob"])
    assert got == {"account:alice": 2, "ip:192.0.2.1": 1, "account:bob": 0}
    assert await store.failures([]) == {}


async def test_store_window_restarts_after_expiry(store: FailureStore, clock: FrozenClock) -> None:
    await store.record_failure(["account:alice"])
    clock.advance(seconds=200)
    await store.record_failure(["account:alice"])
    counts = await store.counts(["account:alice"])
    assert counts["account:alice"].count == 2
    # The window runs from the first failure, not the last.
    assert (counts["account:alice"].resets_at - clock.now()).total_seconds() == 100
    clock.advance(seconds=100)
    assert await store.failures(["account:alice"]) == {"account:alice": 0}
    await store.record_failure(["account:alice"])
    counts = await store.counts(["account:alice"])
    assert counts["account:alice"].count == 1
    assert (counts["account:alice"].resets_at - clock.now()).total_seconds() == 300


async def test_store_reset_and_purge(store: FailureStore, clock: FrozenClock) -> None:
    await store.record_failure(["account:alice", "account:bob", "ip:192.0.2.1"])
    await store.reset("account:alice", "ip:192.0.2.1")
    got = await store.failures(["account:alice", "account:bob", "ip:192.0.2.1"])
    assert got == {"account:alice": 0, "account:bob": 1, "ip:192.0.2.1": 0}
    clock.advance(seconds=299)
    assert await store.purge() == 0
    clock.advance(seconds=1)
    assert await store.purge() == 1


async def test_store_keeps_only_hashes_of_names(store: FailureStore, db_file: str) -> None:
    await store.record_failure(["account:alice", "ip:192.0.2.1"])
    engine = Database(db_file).sync_engine()
    try:
        with engine.connect() as conn:
            keys = {row[0] for row in conn.execute(text("SELECT key FROM auth_failures"))}
    finally:
        engine.dispose()
    assert keys == {hashed_key("account:alice"), hashed_key("ip:192.0.2.1")}
    assert all(len(k) == 64 for k in keys)


async def test_two_workers_share_counters(db_file: str, clock: FrozenClock) -> None:
    first, second = Database(db_file), Database(db_file)
    try:
        a, b = FailureStore(first, clock), FailureStore(second, clock)
        await a.record_failure(["account:alice"])
        await b.record_failure(["account:alice"])
        await a.record_failure(["account:alice"])
        assert await b.failures(["account:alice"]) == {"account:alice": 3}
        await b.reset("account:alice")
        assert await a.failures(["account:alice"]) == {"account:alice": 0}
    finally:
        await first.dispose()
        await second.dispose()


async def test_store_window_must_be_positive(db: Database, clock: FrozenClock) -> None:
    with pytest.raises(ValueError, match="positive"):
        FailureStore(db, clock, window=0)


# --- Throttle --------------------------------------------------------------------------------


async def test_account_limit_throttles_with_retry_after(
    throttle: Throttle, clock: FrozenClock
) -> None:
    await fail(throttle, 2, "alice", "192.0.2.1")
    clock.advance(seconds=60)
    await fail(throttle, 1, "alice", "192.0.2.2")
    with pytest.raises(ThrottledError) as caught:
        await throttle.check("alice", "198.51.100.7")  # any address
    error = caught.value
    assert error.code == "auth.throttled"
    assert error.status == 429
    assert error.retry_after == 240  # the window began at the first failure
    await throttle.check("bob", "198.51.100.7")  # other accounts are not affected


async def test_throttled_error_renders_as_429_problem_with_retry_after(
    throttle: Throttle,
) -> None:
    await fail(throttle, 3, "alice", None)
    with pytest.raises(ThrottledError) as caught:
        await throttle.check("alice", None)
    response = problem_response(caught.value, "regauth")
    assert response.status_code == 429
    assert response.headers["retry-after"] == str(caught.value.retry_after)
    body = orjson.loads(bytes(response.body))
    assert body["code"] == "auth.throttled"
    assert "alice" not in body["detail"]


async def test_address_limit_counts_every_username(throttle: Throttle) -> None:
    for i in range(5):
        await fail(throttle, 1, f"user{i}", "192.0.2.9")
    with pytest.raises(ThrottledError):
        await throttle.check("someone-else", "192.0.2.9")
    with pytest.raises(ThrottledError):
        await throttle.check(None, "192.0.2.9")
    await throttle.check("someone-else", "192.0.2.10")


async def test_window_expiry_lifts_the_throttle(throttle: Throttle, clock: FrozenClock) -> None:
    await fail(throttle, 3, "alice", "192.0.2.1")
    clock.advance(seconds=299)
    with pytest.raises(ThrottledError) as caught:
        await throttle.check("alice", "192.0.2.1")
    assert caught.value.retry_after == 1
    clock.advance(seconds=1)
    await throttle.check("alice", "192.0.2.1")


async def test_success_resets_the_account_and_address(
    throttle: Throttle, store: FailureStore
) -> None:
    await fail(throttle, 2, "alice", "192.0.2.1")
    await throttle.check("alice", "192.0.2.1")
    await throttle.succeeded("alice", "192.0.2.1")
    keys = ["account:alice", "ip:192.0.2.1"]
    assert await store.failures(keys) == {"account:alice": 0, "ip:192.0.2.1": 0}
    await fail(throttle, 2, "alice", "192.0.2.1")
    await throttle.check("alice", "192.0.2.1")  # counting starts over


async def test_clean_success_reads_the_account_and_writes_nothing(
    db: Database, clock: FrozenClock
) -> None:
    throttle = Throttle.build(db, SETTINGS, clock, cache_seconds=1)
    await throttle.check("alice", "192.0.2.1")  # the snapshot
    with statements(db) as seen:
        await throttle.check("alice", "192.0.2.1")
        await throttle.succeeded("alice", "192.0.2.1")
    # the account's counter is read afresh (in place on SQLite, a query elsewhere), not written
    assert seen == ([] if db.dialect == "sqlite" else ["SELECT"])


async def test_success_after_failures_writes_once_then_not_again(
    throttle: Throttle, db: Database
) -> None:
    await fail(throttle, 1, "alice", "192.0.2.1")
    with statements(db) as seen:
        await throttle.succeeded("alice", "192.0.2.1")
        await throttle.succeeded("alice", "192.0.2.1")
    # lock, decide, reset (one transaction); then only the read of a clean account
    # (in place on SQLite, a query elsewhere)
    fresh_read = [] if db.dialect == "sqlite" else ["SELECT"]
    assert seen == ["UPDATE", "SELECT", "DELETE", *fresh_read]


async def test_a_worker_with_a_stale_snapshot_cannot_accept_a_locked_account(
    db_file: str, clock: FrozenClock
) -> None:
    first, second = Database(db_file), Database(db_file)
    try:
        stale = Throttle.build(first, SETTINGS, clock, cache_seconds=1)
        other = Throttle.build(second, SETTINGS, clock, cache_seconds=1)
        await fail(stale, 1, "bob", "192.0.2.1")
        await stale.check("alice", "192.0.2.1")  # snapshot: no failures on alice
        await fail(other, 3, "alice", "192.0.2.2")
        with pytest.raises(ThrottledError):
            await other.check("alice", "192.0.2.2")
        await stale.check("alice", "192.0.2.1")  # its snapshot still says clean…
        with pytest.raises(ThrottledError) as caught:  # …but the right password is refused
            await stale.succeeded("alice", "192.0.2.1")
        assert caught.value.retry_after == 300
        assert await FailureStore(first, clock).failures(["account:alice"]) == {"account:alice": 3}
        clock.advance(seconds=300)
        await stale.succeeded("alice", "192.0.2.1")  # the window ended
    finally:
        await first.dispose()
        await second.dispose()


async def test_below_the_limit_a_success_resets_what_other_workers_counted(
    db_file: str, clock: FrozenClock
) -> None:
    first, second = Database(db_file), Database(db_file)
    try:
        a = Throttle.build(first, SETTINGS, clock, cache_seconds=1)
        b = Throttle.build(second, SETTINGS, clock, cache_seconds=1)
        await a.check("alice", "192.0.2.1")
        await fail(b, 2, "alice", "192.0.2.2")
        await a.succeeded("alice", "192.0.2.1")
        assert await FailureStore(first, clock).failures(["account:alice"]) == {"account:alice": 0}
    finally:
        await first.dispose()
        await second.dispose()


async def test_workers_see_each_others_failures(db_file: str, clock: FrozenClock) -> None:
    first, second = Database(db_file), Database(db_file)
    try:
        a, b = Throttle.build(first, SETTINGS, clock), Throttle.build(second, SETTINGS, clock)
        await fail(a, 2, "alice", "192.0.2.1")
        await fail(b, 1, "alice", "192.0.2.2")
        with pytest.raises(ThrottledError):
            await a.check("alice", "192.0.2.3")
        clock.advance(seconds=300)
        # Worker b never recorded failures from 192.0.2.1, but its check() sees them.
        await fail(a, 2, "carol", "192.0.2.1")
        await b.check("carol", "192.0.2.1")
        await b.succeeded("carol", "192.0.2.1")
        store = FailureStore(first, clock)
        assert await store.failures(["account:carol"]) == {"account:carol": 0}
    finally:
        await first.dispose()
        await second.dispose()


async def test_zero_limit_turns_a_counter_off(db: Database, clock: FrozenClock) -> None:
    no_address = ThrottleSettings(max_failures_per_account=2, max_failures_per_address=0)
    throttle = Throttle.build(db, no_address, clock)
    await fail(throttle, 2, "alice", "192.0.2.1")
    await throttle.check("bob", "192.0.2.1")
    with pytest.raises(ThrottledError):
        await throttle.check("alice", "192.0.2.1")
    off = Throttle.build(
        db, ThrottleSettings(max_failures_per_account=0, max_failures_per_address=0), clock
    )
    assert not off.settings.enabled
    with statements(db) as seen:
        await fail(off, 5, "alice", "192.0.2.1")
        await off.succeeded("alice", "192.0.2.1")
    assert seen == []


async def test_no_username_no_address_is_free(throttle: Throttle, db: Database) -> None:
    with statements(db) as seen:
        await throttle.check(None, None)
        await throttle.failed("", None)
        await throttle.succeeded(None, None)
    assert seen == []


async def test_ipv6_counts_per_64(throttle: Throttle) -> None:
    for i in range(5):
        await fail(throttle, 1, None, f"2001:db8:1:2::{i + 1:x}")
    with pytest.raises(ThrottledError):
        await throttle.check(None, "2001:db8:1:2:ffff::1")
    await throttle.check(None, "2001:db8:1:3::1")


@pytest.mark.parametrize(
    ("client_ip", "key"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("2001:db8::1", "2001:db8::/64"),
        ("2001:DB8:0:0:abcd::1", "2001:db8::/64"),
        ("not-an-ip", "not-an-ip"),
    ],
)
def test_address_key(client_ip: str, key: str) -> None:
    assert address_key(client_ip) == key


async def test_bounded_hint_only_skips_resets(db: Database, clock: FrozenClock) -> None:
    # Without the shared index (as on PostgreSQL) a process knows of failures by its hints.
    throttle = Throttle(FailureStore(db, clock, index=False), SETTINGS, clock, hint_size=2)
    await fail(throttle, 1, "alice", "192.0.2.1")
    await fail(throttle, 1, "bob", "192.0.2.2")  # evicts alice's hints
    await throttle.succeeded("alice", "192.0.2.1")
    store = FailureStore(db, clock)
    # The account is read afresh anyway; the address's forgotten hint skipped its reset.
    keys = ["account:alice", "ip:192.0.2.1"]
    assert await store.failures(keys) == {"account:alice": 0, "ip:192.0.2.1": 1}
    await throttle.check("alice", "192.0.2.1")  # learns of them again
    await throttle.succeeded("alice", "192.0.2.1")
    assert await store.failures(keys) == {"account:alice": 0, "ip:192.0.2.1": 0}


async def test_window_of_store_and_settings_must_agree(db: Database, clock: FrozenClock) -> None:
    with pytest.raises(ValueError, match="window"):
        Throttle(FailureStore(db, clock, window=60), SETTINGS, clock)


@pytest.mark.parametrize(
    "data",
    [
        {"window": 0},
        {"max_failures_per_account": -1},
        {"max_failures_per_address": -1},
        {"lockout": 5},
    ],
)
def test_settings_shape(data: dict[str, int]) -> None:
    with pytest.raises(ValidationError):
        ThrottleSettings.model_validate(data)


async def test_cached_snapshot_is_read_once_by_concurrent_checks(
    db: Database, clock: FrozenClock
) -> None:
    store = FailureStore(db, clock, window=SETTINGS.window, index=False)  # as on PostgreSQL
    throttle = Throttle(store, SETTINGS, clock, cache_seconds=1)
    with statements(db) as seen:
        async with anyio.create_task_group() as tasks:
            for n in range(16):
                tasks.start_soon(throttle.check, f"user{n}", "192.0.2.1")
    assert seen == ["SELECT"]
    clock.advance(seconds=2)
    with statements(db) as seen:
        async with anyio.create_task_group() as tasks:
            for n in range(16):
                tasks.start_soon(throttle.check, f"user{n}", "192.0.2.1")
    assert seen == ["SELECT"]


async def test_concurrent_successes_share_one_fresh_read(db: Database, clock: FrozenClock) -> None:
    store = FailureStore(db, clock, window=SETTINGS.window, index=False)
    store._in_place = False  # the async driver's path, as on PostgreSQL
    throttle = Throttle(store, SETTINGS, clock, cache_seconds=1)
    await throttle.check("warm", "192.0.2.1")
    with statements(db) as seen:
        async with anyio.create_task_group() as tasks:
            for n in range(16):
                tasks.start_soon(throttle.succeeded, f"user{n}", "192.0.2.1")
    assert seen in (["SELECT"], ["SELECT", "SELECT"])  # the first round, then all the others


# --- the shared index (SQLite files): a login on clean counters touches no database ------------

sqlite_only = pytest.mark.parametrize("migrated_db_url", ["sqlite"], indirect=True)

OTHER_PROCESS = """
import sys, anyio
from datetime import datetime
from regauth.store import Database
from regauth.store.throttle import FailureStore

class Clock:
    def now(self):
        return datetime.fromisoformat(sys.argv[2])

async def main():
    db = Database(sys.argv[1])
    try:
        await FailureStore(db, Clock(), window=300).record_failure(sys.argv[3:])
    finally:
        await db.dispose()

anyio.run(main)
"""


def _colliding(key: str) -> str:
    """Another account name whose counter falls into ``key``'s bucket of the index."""
    target = Slot.of(hashed_key(key)).bucket
    return next(
        name
        for n in range(1_000_000)
        if Slot.of(hashed_key(name := f"account:u{n}")).bucket == target
    )


@sqlite_only
async def test_a_clean_login_reads_nothing(db: Database, clock: FrozenClock) -> None:
    store = FailureStore(db, clock, window=SETTINGS.window)
    throttle = Throttle(store, SETTINGS, clock, cache_seconds=1)
    with statements(db) as seen:
        for _ in range(3):
            await throttle.check("alice", "192.0.2.1")
            await throttle.succeeded("alice", "192.0.2.1")
    assert store.indexed
    assert seen == []
    assert store._reader is None  # not even the in-place read of the account's counter


@sqlite_only
async def test_a_failure_recorded_by_another_process_is_seen_at_once(
    db: Database, db_file: str, clock: FrozenClock, tmp_path: Path
) -> None:
    store = FailureStore(db, clock, window=SETTINGS.window)
    throttle = Throttle(store, SETTINGS, clock, cache_seconds=60)
    await throttle.check("alice", "192.0.2.1")
    await throttle.succeeded("alice", "192.0.2.1")  # mapped, clean
    assert store.flagged(["account:alice"]) == []
    script = tmp_path / "other.py"
    script.write_text(OTHER_PROCESS)
    for _ in range(SETTINGS.max_failures_per_account):
        with anyio.fail_after(60):
            await anyio.run_process(
                [sys.executable, str(script), db_file, clock.now().isoformat(), "account:alice"]
            )
    assert store.flagged(["account:alice", "account:bob"]) == ["account:alice"]
    with pytest.raises(ThrottledError):  # no stale snapshot: it had never needed one
        await throttle.check("alice", "192.0.2.1")
    with pytest.raises(ThrottledError) as caught:
        await throttle.succeeded("alice", "192.0.2.1")
    assert caught.value.retry_after == 300
    await throttle.succeeded("bob", "192.0.2.1")


@sqlite_only
async def test_the_flag_clears_when_the_window_ends(db: Database, clock: FrozenClock) -> None:
    throttle = Throttle.build(db, SETTINGS, clock)
    other = FailureStore(db, clock, window=SETTINGS.window)  # another worker's mapping
    await fail(throttle, 1, "alice", "192.0.2.1")
    clock.advance(seconds=200)
    await fail(throttle, 1, "alice", "192.0.2.1")  # the window still ends at 300
    keys = ["account:alice", "ip:192.0.2.1"]
    clock.advance(seconds=99)
    assert other.flagged(keys) == keys
    clock.advance(seconds=1)
    assert other.flagged(keys) == keys  # marked until the last failure's time + the window
    clock.advance(seconds=200)
    assert other.flagged(keys) == []
    assert other.clean(keys)
    with statements(db) as seen:
        await throttle.check("alice", "192.0.2.1")
        await throttle.succeeded("alice", "192.0.2.1")
    assert seen == []


@sqlite_only
async def test_a_reset_clears_the_flag_for_every_worker(db: Database, clock: FrozenClock) -> None:
    throttle = Throttle.build(db, SETTINGS, clock)
    other = FailureStore(db, clock, window=SETTINGS.window)
    await fail(throttle, 2, "alice", "192.0.2.1")
    keys = ["account:alice", "ip:192.0.2.1"]
    assert other.flagged(keys) == keys
    await throttle.succeeded("alice", "192.0.2.1")
    assert other.flagged(keys) == []
    assert await other.failures(keys) == {"account:alice": 0, "ip:192.0.2.1": 0}
    await other.record_failure(["account:alice"])
    assert other.flagged(keys) == ["account:alice"]
    await other.reset("account:alice")
    assert other.flagged(keys) == []


@sqlite_only
async def test_a_shared_bucket_waits_for_its_window(db: Database, clock: FrozenClock) -> None:
    """Two counters in one bucket: resetting one must not hide the other's failures."""
    twin = _colliding("account:alice")
    name = twin.removeprefix("account:")
    throttle = Throttle.build(db, SETTINGS, clock)
    await fail(throttle, 1, "alice", None)
    await fail(throttle, 2, name, None)
    await throttle.succeeded("alice", None)  # resets alice's counter only
    store = FailureStore(db, clock, window=SETTINGS.window)
    assert await store.failures(["account:alice", twin]) == {"account:alice": 0, twin: 2}
    assert store.flagged([twin, "account:alice"]) == [twin, "account:alice"]  # speed only
    await fail(throttle, 1, name, None)
    with pytest.raises(ThrottledError):
        await throttle.check(name, None)
    with pytest.raises(ThrottledError):
        await throttle.succeeded(name, None)
    await throttle.succeeded("alice", None)  # a fresh read: alice has none
    clock.advance(seconds=300)
    assert store.flagged([twin, "account:alice"]) == []


@sqlite_only
async def test_a_failure_being_written_keeps_its_flag(db: Database, clock: FrozenClock) -> None:
    """A reset that raced a failure's write cannot unmark it (the write may commit after)."""
    store = FailureStore(db, clock, window=SETTINGS.window)
    index = store._shared_index()
    assert index is not None
    key = Slot.of(hashed_key("account:alice"))
    epochs = index.mark([key], _micros(clock.now()))  # a failure on its way to the database
    marks = store.marks(["account:alice"])
    await store.reset("account:alice")  # its delete found nothing
    store.settle(["account:alice"], marks)
    assert store.flagged(["account:alice"]) == ["account:alice"]
    index.done([key], epochs)
    assert store.flagged(["account:alice"]) == ["account:alice"]  # until a read says clean
    marks = store.marks(["account:alice"])
    store.settle(["account:alice"], marks)
    assert store.flagged(["account:alice"]) == []


@sqlite_only
async def test_counters_from_before_the_index_are_flagged(db: Database, clock: FrozenClock) -> None:
    plain = FailureStore(db, clock, window=SETTINGS.window, index=False)
    await plain.record_failure(["account:alice"])  # no index marked this one
    store = FailureStore(db, clock, window=SETTINGS.window)
    assert store.flagged(["account:alice", "account:bob"]) == ["account:alice"]
    clock.advance(seconds=300)
    assert store.flagged(["account:alice"]) == []


@sqlite_only
async def test_an_unusable_index_falls_back_to_the_database(
    db: Database, db_file: str, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    database = Path(db_file.removeprefix("sqlite:///"))
    database.with_name(database.name + "-throttle").mkdir()  # cannot be mapped
    throttle = Throttle.build(db, SETTINGS, clock)
    await fail(throttle, 3, "alice", "192.0.2.1")
    with pytest.raises(ThrottledError):
        await throttle.succeeded("alice", "192.0.2.2")
    assert FailureStore(db, clock).flagged(["account:alice"]) is None
    assert "login-failure index" in caplog.text


@sqlite_only
async def test_the_index_is_read_at_the_time_the_caller_gives(
    db: Database, clock: FrozenClock
) -> None:
    """The token service hands its one request time down: the index is judged by it."""
    throttle = Throttle.build(db, SETTINGS, clock)
    other = FailureStore(db, clock, window=SETTINGS.window)
    await fail(throttle, 1, "alice", "192.0.2.1")
    keys = ["account:alice", "ip:192.0.2.1"]
    later = clock.now() + timedelta(seconds=SETTINGS.window)
    assert other.flagged(keys) == keys and not other.clean(keys)
    assert other.flagged(keys, later) == [] and other.clean(keys, later)
    assert other.flagged(keys, clock.now()) == keys and not other.clean(keys, clock.now())
    with statements(db) as seen:  # by the given time the window has ended: nothing to read
        await throttle.check("alice", "192.0.2.1", later)
        await throttle.succeeded("alice", "192.0.2.1", later)
    assert seen == []
