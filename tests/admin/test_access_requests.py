"""Temporary access through the admin layer: request, decide, revoke, list; registry events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from regauth.admin import Actor, Permission, UnitOfWork
from regauth.admin.access_requests import (
    AccessPolicy,
    AccessRequestId,
    DecideAccessRequest,
    ListAccessRequests,
    RegistryEventsQuery,
    RequestAccess,
    decide_access_request,
    list_access_requests,
    list_registry_events,
    request_access,
    revoke_access_request,
)
from regauth.errors import (
    AccessConflict,
    AccessNotFound,
    AdminConflict,
    AdminForbidden,
    AdminInvalid,
    ProblemError,
)
from regauth.events.approvals import Approvals
from regauth.ports import SystemRandom
from regauth.store import Database
from regauth.store.models_admin import ChangeRow
from regauth.store.models_events import EventRow, RegistryEventRow
from tests.store.conftest import FrozenClock

pytestmark = pytest.mark.anyio

ON = AccessPolicy(enabled=True, max_duration=3600, service="change-board")
ALICE = Actor("user", "alice")
BOB = Actor("user", "bob")
WANT = RequestAccess("alice", "team/secret", ("push",), 600, "hotfix")


async def _request(db: Database, clock: FrozenClock, actor: Actor = ALICE) -> int:
    async with UnitOfWork(db, clock) as uow:
        view = await request_access(uow, actor, WANT, ON)
    return view.id


async def _changes(db: Database) -> list[ChangeRow]:
    async with db.session() as s:
        return list(await s.scalars(select(ChangeRow).order_by(ChangeRow.id)))


async def _event_types(db: Database) -> list[str]:
    async with db.session() as s:
        return list(await s.scalars(select(EventRow.type).order_by(EventRow.id)))


async def test_a_user_requests_an_admin_approves_and_the_grant_is_live(
    db: Database, clock: FrozenClock, console: Actor
) -> None:
    request_id = await _request(db, clock)
    async with UnitOfWork(db, clock) as uow:
        [mine] = await list_access_requests(uow, ALICE, ListAccessRequests("alice"))
    assert (mine.state, mine.expires_at, mine.reason) == ("requested", None, "hotfix")
    admin = Actor("user", "root", "10.0.0.1", frozenset({Permission.ADMIN}))
    async with UnitOfWork(db, clock) as uow:
        view = await decide_access_request(uow, admin, DecideAccessRequest(request_id, "approve"))
    assert view.state == "approved" and view.decided_by == "root"
    assert view.expires_at == clock.now() + timedelta(seconds=600)
    live = await Approvals(db, clock, SystemRandom()).live(clock.now())
    assert [g.repository for g in live["alice"]] == ["team/secret"]
    kinds = [(c.actor_name, c.kind, c.subject) for c in await _changes(db)]
    assert kinds == [
        ("alice", "access:request", f"#{request_id}"),
        ("root", "access:approve", f"#{request_id}"),
    ]
    types = sorted(await _event_types(db))
    expected = [
        "access.requested",
        "admin.access:request",
        "access.approved",
        "admin.access:approve",
    ]
    assert types == sorted(expected)

    clock.advance(601)  # past its end: shown expired before the sweep runs
    async with UnitOfWork(db, clock) as uow:
        [later] = await list_access_requests(uow, ALICE, ListAccessRequests("alice"))
        expired = await list_access_requests(uow, console, ListAccessRequests(state="expired"))
    assert later.state == "expired" and [v.id for v in expired] == [request_id]
    async with UnitOfWork(db, clock) as uow:
        with pytest.raises(AccessConflict, match="already expired"):
            await revoke_access_request(uow, console, AccessRequestId(request_id))


async def test_deny_then_no_second_decision(
    db: Database, clock: FrozenClock, console: Actor
) -> None:
    request_id = await _request(db, clock)
    async with UnitOfWork(db, clock) as uow:
        view = await decide_access_request(uow, console, DecideAccessRequest(request_id, "deny"))
    assert view.state == "denied" and view.expires_at is None
    async with UnitOfWork(db, clock) as uow:
        with pytest.raises(AccessConflict) as caught:
            await decide_access_request(uow, console, DecideAccessRequest(request_id, "approve"))
    assert (caught.value.status, caught.value.code) == (409, "access.already_decided")
    assert [c.kind for c in await _changes(db)] == ["access:request", "access:deny"]


async def test_the_requester_withdraws_their_own_but_not_another_users(
    db: Database, clock: FrozenClock
) -> None:
    request_id = await _request(db, clock)
    async with UnitOfWork(db, clock) as uow:
        with pytest.raises(AdminForbidden) as caught:
            await revoke_access_request(uow, BOB, AccessRequestId(request_id))
    assert (caught.value.status, caught.value.code) == (403, "admin.forbidden")
    async with UnitOfWork(db, clock) as uow:  # "my requests" of bob: not found
        with pytest.raises(AccessNotFound):
            await revoke_access_request(uow, BOB, AccessRequestId(request_id, "bob"))
    async with UnitOfWork(db, clock) as uow:
        view = await revoke_access_request(uow, ALICE, AccessRequestId(request_id, "alice"))
    assert view.state == "revoked"
    assert [c.kind for c in await _changes(db)] == ["access:request", "access:revoke"]


@pytest.mark.parametrize(
    ("actor", "call"),
    [
        (BOB, "request for alice"),
        (BOB, "list alice's"),
        (ALICE, "list everyone's"),
        (ALICE, "approve"),
        (Actor("apikey", "ci"), "request for alice"),
    ],
)
async def test_what_a_plain_account_may_not_do(
    db: Database, clock: FrozenClock, actor: Actor, call: str
) -> None:
    request_id = await _request(db, clock)
    before = len(await _changes(db))
    attempts: dict[str, Callable[[UnitOfWork], Awaitable[object]]] = {
        "request for alice": lambda uow: request_access(uow, actor, WANT, ON),
        "list alice's": lambda uow: list_access_requests(uow, actor, ListAccessRequests("alice")),
        "list everyone's": lambda uow: list_access_requests(uow, actor, ListAccessRequests()),
        "approve": lambda uow: decide_access_request(
            uow, actor, DecideAccessRequest(request_id, "approve")
        ),
    }
    async with UnitOfWork(db, clock) as uow:
        with pytest.raises(AdminForbidden) as caught:
            await attempts[call](uow)
    assert (caught.value.status, caught.value.code) == (403, "admin.forbidden")
    assert "hotfix" not in caught.value.detail and "team/secret" not in caught.value.detail
    assert len(await _changes(db)) == before  # nothing recorded


@pytest.mark.parametrize(
    ("cmd", "field", "message"),
    [
        (RequestAccess("alice", "team/*", ("pull",), 60), "repository", "no wildcards"),
        (RequestAccess("alice", "", ("pull",), 60), "repository", "one repository name"),
        (RequestAccess("alice", "team/x", ("steal",), 60), "actions", "among pull, push"),
        (RequestAccess("alice", "team/x", (), 60), "actions", "among pull, push"),
        (
            RequestAccess("alice", "team/x", ("pull",), 3601),
            "duration_seconds",
            "between 1 and 3600",
        ),
        (RequestAccess("alice", "team/x", ("pull",), 0), "duration_seconds", "between 1 and 3600"),
        (RequestAccess("alice", "team/x", ("pull",), 60, "x" * 1025), "reason", "longer than 1024"),
        (RequestAccess("alice", "team/x", ("pull",), 60, "a\x00b"), "reason", "no control"),
        (RequestAccess("alice", "team\x00/x", ("pull",), 60), "repository", "one repository"),
    ],
)
async def test_invalid_requests_name_the_field_and_store_nothing(
    db: Database, clock: FrozenClock, cmd: RequestAccess, field: str, message: str
) -> None:
    async with UnitOfWork(db, clock) as uow:
        with pytest.raises(AdminInvalid) as caught:
            await request_access(uow, ALICE, cmd, ON)
    assert (caught.value.status, caught.value.code) == (422, "admin.invalid")
    assert message in caught.value.fields[field]
    async with UnitOfWork(db, clock) as uow:
        assert await list_access_requests(uow, ALICE, ListAccessRequests("alice")) == ()
    assert await _changes(db) == [] and await _event_types(db) == []


async def test_a_request_needs_temporary_access_enabled(db: Database, clock: FrozenClock) -> None:
    async with UnitOfWork(db, clock) as uow:
        with pytest.raises(AdminConflict) as caught:
            await request_access(uow, ALICE, WANT, AccessPolicy(enabled=False))
    assert (caught.value.status, caught.value.code) == (409, "admin.conflict")
    assert "[events.approval] enabled = true" in caught.value.detail
    assert await _event_types(db) == []


@pytest.mark.parametrize(
    ("cmd", "status", "code"),
    [
        (DecideAccessRequest(99, "approve"), 404, "access.not_found"),
        (DecideAccessRequest(1, "maybe"), 422, "admin.invalid"),
        (DecideAccessRequest(0, "approve"), 422, "admin.invalid"),
    ],
)
async def test_bad_decisions(
    db: Database,
    clock: FrozenClock,
    console: Actor,
    cmd: DecideAccessRequest,
    status: int,
    code: str,
) -> None:
    await _request(db, clock)
    async with UnitOfWork(db, clock) as uow:
        with pytest.raises(ProblemError) as caught:
            await decide_access_request(uow, console, cmd)
    assert (caught.value.status, caught.value.code) == (status, code)
    assert [c.kind for c in await _changes(db)] == ["access:request"]


async def test_registry_events_of_one_repository(
    db: Database, clock: FrozenClock, console: Actor
) -> None:
    at = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    rows = [
        {"id": f"e{i}", "action": action, "at": at + timedelta(minutes=i), "received_at": at,
         "repository": repo, "tag": "1", "actor": "alice", "document": "{}"}
        for i, (action, repo) in enumerate(
            [("push", "team/app"), ("pull", "team/app"), ("push", "other")]
        )
    ]  # fmt: skip
    async with db.session() as s, s.begin():
        await s.execute(insert(RegistryEventRow), rows)
    async with UnitOfWork(db, clock) as uow:
        events = await list_registry_events(uow, console, RegistryEventsQuery("team/app"))
        with pytest.raises(AdminForbidden):
            await list_registry_events(uow, ALICE, RegistryEventsQuery("team/app"))
        with pytest.raises(AdminInvalid):
            await list_registry_events(uow, console, RegistryEventsQuery("", 10))
    assert [(e.id, e.action) for e in events] == [("e1", "pull"), ("e0", "push")]


async def test_a_user_name_with_a_nul_is_refused_not_looked_up(
    db: Database, clock: FrozenClock, console: Actor
) -> None:
    bad = RequestAccess("al\x00ice", "team/x", ("pull",), 60)
    async with UnitOfWork(db, clock) as uow:
        with pytest.raises(AdminInvalid) as caught:
            await request_access(uow, console, bad, ON)
        assert "a user name" in caught.value.fields["user"]
        with pytest.raises(AdminInvalid):
            await list_access_requests(uow, console, ListAccessRequests("al\x00ice", "bogus"))
