"""The outbox in the database: routing, leases, settling, dead letters, backlog."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import anyio
import anyio.lowlevel
import pytest
from sqlalchemy import select

from regauth.events.outbox import Outbox, enqueue, enqueue_many, event_row
from regauth.store import Database
from regauth.store.models_events import DeliveryRow, EventRow

pytestmark = pytest.mark.anyio
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)


async def add(db: Database, type: str, n: int = 1) -> list[str]:
    ids = [f"{type}-{i}" for i in range(n)]
    async with db.session() as session, session.begin():
        for event_id in ids:
            await enqueue(session, type, {"n": event_id}, at=NOW, event_id=event_id)
    return ids


def everyone(_type: str) -> list[str]:
    return ["hook"]


async def test_an_event_is_stored_with_the_body_that_is_delivered(db: Database) -> None:
    await add(db, "registry.push")
    async with db.session() as session:
        row = (await session.scalars(select(EventRow))).one()
    assert row.body == (
        b'{"id":"registry.push-0","type":"registry.push","at":"2026-11-23T12:00:00+00:00",'
        b'"data":{"n":"registry.push-0"}}'
    )


async def test_many_events_are_added_in_one_transaction_whole_and_once(db: Database) -> None:
    """More than one SQLite statement's worth (a hundred rows each) of token events."""
    ids = [f"token.issued-{n}" for n in range(237)]
    async with db.engine.begin() as conn:
        await enqueue_many(conn, [event_row(i, "token.issued", NOW, {"n": i}) for i in ids])
    async with db.session() as session:
        stored = (await session.scalars(select(EventRow.id))).all()
    assert sorted(stored) == sorted(ids)


async def test_a_rolled_back_change_leaves_no_event(db: Database) -> None:
    async def failing_change() -> None:
        async with db.session() as session, session.begin():
            await enqueue(session, "admin.user:add", {}, at=NOW, event_id="e1")
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        await failing_change()
    assert await Outbox(db).backlog(NOW) == (0, 0.0)


async def test_routing_follows_subscriptions(db: Database) -> None:
    await add(db, "registry.push")
    await add(db, "token.issued")
    outbox = Outbox(db)

    def wants(type: str) -> list[str]:
        return ["audit-sink", "ci"] if type.startswith("registry.") else ["audit-sink"]

    assert await outbox.route(wants, NOW) == 2
    assert await outbox.route(wants, NOW) == 0  # routed once
    pairs = {(d.type, d.endpoint) for d in await outbox.deliveries()}
    assert pairs == {
        ("registry.push", "audit-sink"),
        ("registry.push", "ci"),
        ("token.issued", "audit-sink"),
    }


async def test_a_claimed_delivery_is_leased_to_one_worker(db: Database) -> None:
    await add(db, "registry.push", 3)
    outbox = Outbox(db)
    await outbox.route(everyone, NOW)
    first = await outbox.claim(NOW, LEASE, "worker-a", 2)
    second = await outbox.claim(NOW, LEASE, "worker-b", 10)
    assert len(first) == 2 and len(second) == 1
    assert {c.id for c in first}.isdisjoint({c.id for c in second})
    assert await outbox.claim(NOW + timedelta(seconds=59), LEASE, "worker-c", 10) == []


async def test_a_dead_workers_lease_runs_out_and_its_late_answer_is_ignored(db: Database) -> None:
    await add(db, "registry.push")
    outbox = Outbox(db)
    await outbox.route(everyone, NOW)
    (stale,) = await outbox.claim(NOW, LEASE, "worker-a", 10)
    (fresh,) = await outbox.claim(NOW + LEASE, LEASE, "worker-b", 10)
    assert fresh.event_id == stale.event_id and fresh.body == stale.body
    late = NOW + LEASE + timedelta(seconds=1)
    assert not await outbox.settle(stale, now=late, delivered=True, retry_at=None)
    assert await outbox.settle(fresh, now=late, delivered=True, retry_at=None)
    (view,) = await outbox.deliveries()
    assert (view.state, view.attempts) == ("delivered", 1)


async def test_failures_retry_then_dead_letter_then_retry_by_hand(db: Database) -> None:
    await add(db, "registry.push")
    outbox = Outbox(db)
    await outbox.route(everyone, NOW)
    (item,) = await outbox.claim(NOW, LEASE, "a", 10)
    later = NOW + timedelta(seconds=5)
    await outbox.settle(item, now=NOW, delivered=False, retry_at=later, error="HTTP 503")
    assert await outbox.claim(later - timedelta(seconds=1), LEASE, "b", 10) == []
    (item,) = await outbox.claim(later, LEASE, "b", 10)
    assert item.attempts == 1
    await outbox.settle(item, now=later, delivered=False, retry_at=None, error="ConnectError")
    (dead,) = await outbox.deliveries(state="dead")
    assert (dead.attempts, dead.last_error) == (2, "ConnectError")
    assert await outbox.claim(later + timedelta(days=1), LEASE, "c", 10) == []
    assert await outbox.retry(later, all_dead=True) == 1
    (again,) = await outbox.claim(later, LEASE, "d", 10)
    assert again.attempts == 0


async def test_backlog_counts_unrouted_and_pending_with_the_oldest_age(db: Database) -> None:
    await add(db, "registry.push", 2)
    outbox = Outbox(db)
    assert await outbox.backlog(NOW + timedelta(seconds=30)) == (2, 30.0)
    await outbox.route(everyone, NOW)
    (a, _b) = await outbox.claim(NOW, LEASE, "w", 10)
    await outbox.settle(a, now=NOW, delivered=True, retry_at=None)
    assert await outbox.backlog(NOW + timedelta(seconds=10)) == (1, 10.0)
    assert await outbox.due(NOW) is False  # b is leased
    assert await outbox.due(NOW + LEASE) is True


async def test_concurrent_workers_never_claim_a_row_twice(db: Database) -> None:
    await add(db, "registry.push", 120)
    outbox = Outbox(db)
    await outbox.route(everyone, NOW)
    claims: dict[str, list[int]] = {}

    async def worker(name: str) -> None:
        while True:
            got = await outbox.claim(NOW, LEASE, name, 7)
            if not got:
                return
            claims.setdefault(name, []).extend(c.id for c in got)
            await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as tasks:
        for n in range(6):
            tasks.start_soon(worker, f"w{n}")
    ids = [i for got in claims.values() for i in got]
    assert len(ids) == 120 and len(set(ids)) == 120
    assert len(claims) > 1  # the claims really interleaved


async def test_a_row_locked_by_another_worker_is_skipped_not_waited_for(
    pg_events_db: Database,
) -> None:
    """PostgreSQL: FOR UPDATE SKIP LOCKED (SQLite has a single writer and no row locks)."""
    db = pg_events_db
    await add(db, "registry.push", 3)
    outbox = Outbox(db)
    await outbox.route(everyone, NOW)
    async with db.engine.connect() as other:
        # Another replica is in the middle of claiming the first row.
        first = select(DeliveryRow.id).order_by(DeliveryRow.id).limit(1).with_for_update()
        locked = (await other.execute(first)).scalar_one()
        with anyio.fail_after(10):
            got = await outbox.claim(NOW, LEASE, "w", 10)
        await other.rollback()
    assert sorted(c.id for c in got) == [locked + 1, locked + 2]
    (last,) = await outbox.claim(NOW, LEASE, "w2", 10)  # the lock is gone: now it is claimed
    assert last.id == locked


async def test_old_finished_events_are_pruned_dead_and_pending_ones_kept(db: Database) -> None:
    await add(db, "a", 3)
    await add(db, "unrouted")
    outbox = Outbox(db)
    await outbox.route(lambda t: ["hook"] if t == "a" else [], NOW)
    (done, dead, pending) = await outbox.claim(NOW, LEASE, "w", 10)
    await outbox.settle(done, now=NOW, delivered=True, retry_at=None)
    await outbox.settle(dead, now=NOW, delivered=False, retry_at=None, error="HTTP 500")
    await add(db, "nobody")  # routed to no endpoint at all
    await outbox.route(lambda t: [], NOW)
    assert await outbox.prune(NOW) == 0  # nothing is old yet
    # the delivered one and the two that nobody subscribed to
    assert await outbox.prune(NOW + timedelta(seconds=1)) == 3
    left = {d.event_id for d in await outbox.deliveries()}
    assert left == {dead.event_id, pending.event_id}
