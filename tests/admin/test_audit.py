"""Audit use cases: pages with a cursor and filters, export, across many store pages."""

from __future__ import annotations

from datetime import timedelta

import orjson
import pytest

from regauth.admin import Actor, UnitOfWork, audit
from regauth.admin.audit import AuditPageQuery, AuditQuery, export_events, query_events
from regauth.errors import AdminInvalid
from regauth.store import AuditStore, Database
from tests.store.conftest import START, FrozenClock

pytestmark = pytest.mark.anyio


async def _seed(db: Database, count: int) -> None:
    """Events 1..count: every third denied; alternately on repositories a/x and b/y."""
    rows: list[dict[str, object]] = []
    for n in range(1, count + 1):
        repo = "a/x" if n % 2 else "b/y"
        denied = n % 3 == 0
        document = {"requested": [f"repository:{repo}:pull"], "granted": []}
        rows.append(
            {
                "at": START + timedelta(seconds=n),
                "outcome": "denied" if denied else "issued",
                "subject": "bob" if n % 4 else "alice",
                "source": "local",
                "service": "registry.test",
                "client_ip": "192.0.2.1",
                "error_code": "denied" if denied else "",
                "nothing_granted": denied,
                "document": orjson.dumps(document).decode(),
            }
        )
    await AuditStore(db).add_many(rows)


async def _all_pages(
    db: Database, clock: FrozenClock, actor: Actor, **filters: object
) -> list[tuple[int, ...]]:
    pages: list[tuple[int, ...]] = []
    after = 0
    while True:
        async with UnitOfWork(db, clock) as uow:
            page = await query_events(uow, actor, AuditPageQuery(after=after, limit=4, **filters))  # type: ignore[arg-type]
        pages.append(tuple(v.id for v in page.items))
        if page.next is None:
            return pages
        after = page.next


@pytest.fixture
def small_scans(monkeypatch: pytest.MonkeyPatch) -> None:
    # Store pages far smaller than a result page, so every answer spans several of them.
    monkeypatch.setattr(audit, "SCAN_PAGE", 3)
    monkeypatch.setattr(audit, "EXPORT_PAGE", 3)


@pytest.mark.usefixtures("small_scans")
async def test_pages_follow_the_cursor_over_many_store_pages(
    db: Database, clock: FrozenClock, console: Actor
) -> None:
    await _seed(db, 20)
    assert await _all_pages(db, clock, console) == [
        (1, 2, 3, 4),
        (5, 6, 7, 8),
        (9, 10, 11, 12),
        (13, 14, 15, 16),
        (17, 18, 19, 20),
    ]
    denied = [i for page in await _all_pages(db, clock, console, outcome="denied") for i in page]
    assert denied == [3, 6, 9, 12, 15, 18]
    on_b = await _all_pages(db, clock, console, repository="b/y")
    assert on_b == [(2, 4, 6, 8), (10, 12, 14, 16), (18, 20)]
    alice = await _all_pages(db, clock, console, user="alice", outcome="issued")
    assert alice == [(4, 8, 16, 20)]


@pytest.mark.usefixtures("small_scans")
async def test_export_streams_every_matching_event_oldest_first(
    db: Database, clock: FrozenClock, console: Actor
) -> None:
    await _seed(db, 10)
    async with UnitOfWork(db, clock) as uow:
        every = [v.id async for v in export_events(uow, console, AuditQuery())]
        denied = [v.id async for v in export_events(uow, console, AuditQuery(denied=True))]
        bob = [v.id async for v in export_events(uow, console, AuditQuery(user="bob"))]
    assert every == list(range(1, 11))
    assert denied == [3, 6, 9]
    assert bob == [1, 2, 3, 5, 6, 7, 9, 10]


async def test_page_arguments_are_checked(db: Database, clock: FrozenClock, console: Actor) -> None:
    async with UnitOfWork(db, clock) as uow:
        with pytest.raises(AdminInvalid) as info:
            await query_events(uow, console, AuditPageQuery(limit=0, outcome="maybe"))
    assert set(info.value.fields) == {"limit", "outcome"}
