"""The unit of work: one transaction for the change and its record; rollback unless committed."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from regauth.admin import Actor, Change, Permission, UnitOfWork
from regauth.admin.groups import AddGroup, GroupView, Membership, add_group, add_member
from regauth.config.events import subscribed
from regauth.errors import AdminConflict, AdminForbidden, AdminInvalid, AdminNotFound
from regauth.events.outbox import Outbox
from regauth.store import Database, UserStore
from regauth.store.models_admin import ChangeRow
from regauth.store.models_events import EventRow
from tests.store.conftest import FrozenClock

pytestmark = pytest.mark.anyio


async def _changes(db: Database) -> list[ChangeRow]:
    async with db.session() as s:
        return list((await s.scalars(select(ChangeRow).order_by(ChangeRow.id))).all())


async def test_a_committed_change_is_recorded_with_its_actor(
    db: Database, clock: FrozenClock
) -> None:
    actor = Actor("user", "alice", "192.0.2.7", frozenset({Permission.GROUPS_WRITE}))
    async with UnitOfWork(db, clock) as uow:
        view = await add_group(uow, actor, AddGroup("devs"))
    assert view == GroupView("devs", ())
    (row,) = await _changes(db)
    assert (row.actor_kind, row.actor_name, row.actor_address) == ("user", "alice", "192.0.2.7")
    assert (row.kind, row.subject, row.before, row.at) == ("group:add", "devs", None, clock.at)
    assert json.loads(row.after or "") == {"name": "devs", "members": []}


async def test_leaving_without_commit_rolls_back_the_change_and_its_record(
    db: Database, clock: FrozenClock, console: Actor
) -> None:
    async with UnitOfWork(db, clock) as uow:
        await uow.groups.add("devs")
        uow.record(Change(console, "group:add", "devs", None, {"name": "devs"}))
    async with UnitOfWork(db, clock) as uow:
        assert await uow.groups.list() == []
    assert await _changes(db) == []


async def test_an_error_after_the_change_rolls_everything_back(
    db: Database, clock: FrozenClock, console: Actor
) -> None:
    async def fail_after_the_change() -> None:
        async with UnitOfWork(db, clock) as uow:
            await uow.groups.add("devs")
            uow.record(Change(console, "group:add", "devs"))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await fail_after_the_change()
    assert await _changes(db) == []


async def test_store_errors_come_out_as_admin_errors(
    db: Database, clock: FrozenClock, console: Actor
) -> None:
    async with UnitOfWork(db, clock) as uow:
        await add_group(uow, console, AddGroup("devs"))
    with pytest.raises(AdminConflict) as conflict:
        async with UnitOfWork(db, clock) as uow:
            await add_group(uow, console, AddGroup("devs"))
    assert (conflict.value.status, conflict.value.code) == (409, "admin.conflict")
    with pytest.raises(AdminNotFound) as missing:
        async with UnitOfWork(db, clock) as uow:
            await add_member(uow, console, Membership("devs", "nobody"))
    assert (missing.value.status, missing.value.code) == (404, "admin.not_found")
    assert [r.kind for r in await _changes(db)] == ["group:add"]


async def test_an_actor_without_the_permission_is_refused_before_anything(
    db: Database, clock: FrozenClock
) -> None:
    reader = Actor("apikey", "ci", "", frozenset({Permission.GROUPS_READ}))
    with pytest.raises(AdminForbidden) as refused:
        async with UnitOfWork(db, clock) as uow:
            await add_group(uow, reader, AddGroup("bad name"))
    assert (refused.value.status, refused.value.code) == (403, "admin.forbidden")
    assert "groups:write" in refused.value.detail


async def test_invalid_input_names_the_field(
    db: Database, clock: FrozenClock, console: Actor
) -> None:
    with pytest.raises(AdminInvalid) as invalid:
        async with UnitOfWork(db, clock) as uow:
            await add_group(uow, console, AddGroup(""))
    assert (invalid.value.status, invalid.value.code) == (422, "admin.invalid")
    assert invalid.value.fields == {"name": "a name cannot be empty"}


async def test_repositories_within_a_unit_of_work_share_its_transaction(
    db: Database, clock: FrozenClock, console: Actor
) -> None:
    async with UnitOfWork(db, clock) as uow:
        await uow.users.add("alice", None, groups=("devs",))
        assert (await uow.users.get("alice")) is not None
        # Outside the transaction nothing is visible yet.
        assert await UserStore(db, clock).get("alice") is None
        await uow.commit()
    user = await UserStore(db, clock).get("alice")
    assert user is not None and user.groups == ("devs",)


def test_the_console_actor_holds_every_permission() -> None:
    actor = Actor.console("root")
    assert all(actor.holds(p) for p in Permission)
    assert str(actor) == "console:root"
    with pytest.raises(ValueError, match="kind"):
        Actor("robot", "x")


async def _events(db: Database) -> list[EventRow]:
    async with db.session() as s:
        return list((await s.scalars(select(EventRow).order_by(EventRow.at))).all())


async def test_a_committed_change_is_an_admin_event_in_the_outbox(
    db: Database, clock: FrozenClock
) -> None:
    actor = Actor("user", "alice", "192.0.2.7", frozenset({Permission.GROUPS_WRITE}))
    async with UnitOfWork(db, clock, event_ids=lambda: "ev-1") as uow:
        await add_group(uow, actor, AddGroup("devs"))
    (event,) = await _events(db)
    assert (event.id, event.type, event.at, event.routed) == (
        "ev-1",
        "admin.group:add",
        clock.at,
        False,
    )
    body = json.loads(event.body)
    assert body["data"]["actor"] == {"kind": "user", "name": "alice", "address": "192.0.2.7"}
    assert (body["data"]["subject"], body["data"]["after"]) == (
        "devs",
        {"name": "devs", "members": []},
    )
    wanted: list[str] = []

    def wants(event_type: str) -> list[str]:
        wanted.append(event_type)
        return ["ops"] if subscribed("admin.*", event_type) else []

    assert await Outbox(db).route(wants, clock.at) == 1  # one delivery, for the admin.* webhook
    assert wanted == ["admin.group:add"]


async def test_a_change_rolled_back_sends_no_event(
    db: Database, clock: FrozenClock, console: Actor
) -> None:
    async with UnitOfWork(db, clock) as uow:
        await uow.groups.add("devs")
        uow.record(Change(console, "group:add", "devs", None, {"name": "devs"}))
    assert await _events(db) == []
