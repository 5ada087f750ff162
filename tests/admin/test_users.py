"""Account use cases: pages by name, patches, self-service profile and password."""

from __future__ import annotations

from datetime import timedelta

import pytest

from regauth.admin import Actor, Permission, UnitOfWork
from regauth.admin.users import (
    AddUser,
    ChangePassword,
    ListUsers,
    UpdateUser,
    add_user,
    all_users,
    change_own_password,
    list_users,
    show_me,
    update_user,
)
from regauth.errors import AdminForbidden, AdminInvalid
from regauth.store import Database
from tests.store.conftest import FrozenClock

pytestmark = pytest.mark.anyio


async def test_pages(db: Database, clock: FrozenClock, console: Actor) -> None:
    for name in ("d", "a", "c", "b"):
        async with UnitOfWork(db, clock) as uow:
            await add_user(uow, console, AddUser(name, "h", ("g",) if name in "ab" else ()))
    names: list[str] = []
    after = None
    while True:
        async with UnitOfWork(db, clock) as uow:
            page = await list_users(uow, console, ListUsers(after=after, limit=3))
        names += [u.name for u in page.items]
        if page.next is None:
            break
        after = page.next
    assert names == ["a", "b", "c", "d"]
    async with UnitOfWork(db, clock) as uow:
        in_g = await list_users(uow, console, ListUsers(group="g"))
    assert [u.name for u in in_g.items] == ["a", "b"] and in_g.next is None
    async with UnitOfWork(db, clock) as uow:
        with pytest.raises(AdminInvalid):
            await list_users(uow, console, ListUsers(limit=0))
    async with UnitOfWork(db, clock) as uow:
        every = await all_users(uow, console)
    assert [u.name for u in every] == ["a", "b", "c", "d"]
    reader = Actor("apikey", "viewer", permissions=frozenset({Permission.GROUPS_READ}))
    async with UnitOfWork(db, clock) as uow:
        with pytest.raises(AdminForbidden):
            await all_users(uow, reader)


async def test_update(db: Database, clock: FrozenClock, console: Actor) -> None:
    async with UnitOfWork(db, clock) as uow:
        await add_user(uow, console, AddUser("alice", "old-hash"))
    expiry = clock.now() + timedelta(days=30)
    async with UnitOfWork(db, clock) as uow:
        view = await update_user(
            uow,
            console,
            UpdateUser("alice", disabled=True, password_expires_at=expiry, groups=("ops",)),
        )
    assert view.disabled and view.password_expires_at == expiry and view.groups == ("ops",)
    async with UnitOfWork(db, clock) as uow:
        view = await update_user(uow, console, UpdateUser("alice", password_hash="new-hash"))
    assert view.password_expires_at == expiry  # untouched by a reset that does not name it
    async with UnitOfWork(db, clock) as uow:
        view = await update_user(uow, console, UpdateUser("alice", clear_password_expiry=True))
    assert view.password_expires_at is None
    async with UnitOfWork(db, clock) as uow:
        with pytest.raises(AdminInvalid) as caught:
            await update_user(uow, console, UpdateUser("alice", groups=("Bad",)))
    assert set(caught.value.fields) == {"groups[0]"}


async def test_self_service(db: Database, clock: FrozenClock, console: Actor) -> None:
    async with UnitOfWork(db, clock) as uow:
        await add_user(uow, console, AddUser("alice", "stored"))
    alice = Actor("user", "alice")

    async def verify(stored: str | None, given: str) -> bool:
        return stored == "stored" and given == "right"

    async with UnitOfWork(db, clock) as uow:
        assert (await show_me(uow, alice)).name == "alice"
    async with UnitOfWork(db, clock) as uow:
        with pytest.raises(AdminInvalid):
            await change_own_password(uow, alice, ChangePassword("wrong", "new"), verify)
    async with UnitOfWork(db, clock) as uow:
        await change_own_password(uow, alice, ChangePassword("right", "new"), verify)
    async with UnitOfWork(db, clock) as uow:
        record = await uow.users.get("alice")
    assert record is not None and record.password_hash == "new"
    async with UnitOfWork(db, clock) as uow:
        with pytest.raises(AdminForbidden):
            await show_me(uow, Actor("oidc", "alice"))
