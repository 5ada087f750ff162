"""UserStore and GroupStore against a migrated SQLite file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from regauth.store import Conflict, GroupStore, NotFound, TokenStore, UserRecord, UserStore
from tests.store.conftest import START, FrozenClock

pytestmark = pytest.mark.anyio


async def _get(users: UserStore, name: str) -> UserRecord:
    user = await users.get(name)
    assert user is not None
    return user


async def test_add_and_get_with_groups(users: UserStore) -> None:
    added = await users.add("alice", "$argon2id$h", groups=("devs", "admins", "devs"))
    got = await _get(users, "alice")
    assert got == added
    assert got.name == "alice"
    assert got.password_hash == "$argon2id$h"
    assert got.groups == ("admins", "devs")
    assert got.kind == "user"
    assert not got.disabled
    assert got.password_expires_at is None
    assert got.created_at == START
    assert got.created_at.tzinfo is not None


async def test_password_hash_is_not_in_repr(users: UserStore) -> None:
    added = await users.add("alice", "$argon2id$secret-hash")
    assert "secret-hash" not in repr(added)


async def test_unknown_user_is_none(users: UserStore) -> None:
    assert await users.get("nobody") is None


async def test_duplicate_name_is_conflict(users: UserStore) -> None:
    await users.add("alice", "h1")
    with pytest.raises(Conflict, match="alice") as caught:
        await users.add("alice", "h2", groups=("new",))
    assert "INSERT" not in str(caught.value)
    assert "h2" not in str(caught.value)
    user = await _get(users, "alice")
    assert user.password_hash == "h1"


async def test_robot_without_password(users: UserStore) -> None:
    robot = await users.add("ci-bot", None, kind="robot")
    assert robot.kind == "robot"
    assert robot.password_hash is None


async def test_unknown_kind_is_rejected(users: UserStore) -> None:
    with pytest.raises(ValueError, match="kind"):
        await users.add("x", None, kind="admin")


async def test_list_is_sorted_with_groups(users: UserStore) -> None:
    await users.add("bob", "h", groups=("devs",))
    await users.add("alice", "h", groups=("ops", "devs"))
    await users.add("carol", None)
    listed = await users.list()
    assert [(u.name, u.groups) for u in listed] == [
        ("alice", ("devs", "ops")),
        ("bob", ("devs",)),
        ("carol", ()),
    ]


async def test_set_disabled(users: UserStore) -> None:
    await users.add("alice", "h")
    await users.set_disabled("alice", True)
    assert (await _get(users, "alice")).disabled
    await users.set_disabled("alice", False)
    assert not (await _get(users, "alice")).disabled


async def test_set_password_with_expiry_in_other_zone(users: UserStore) -> None:
    await users.add("alice", "old")
    expires = datetime(2025, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    await users.set_password("alice", "new", expires_at=expires)
    user = await _get(users, "alice")
    assert user.password_hash == "new"
    assert user.password_expires_at == expires
    assert user.password_expires_at is not None
    assert user.password_expires_at.tzinfo == UTC
    await users.set_password("alice", None)
    user = await _get(users, "alice")
    assert user.password_hash is None
    assert user.password_expires_at is None


async def test_set_groups_replaces(users: UserStore, groups: GroupStore) -> None:
    await users.add("alice", "h", groups=("a", "b"))
    await users.set_groups("alice", ["c", "b"])
    assert (await _get(users, "alice")).groups == ("b", "c")
    await users.set_groups("alice", [])
    assert (await _get(users, "alice")).groups == ()
    assert [name for name, _ in await groups.list()] == ["a", "b", "c"]


@pytest.mark.parametrize("action", ["set_password", "set_disabled", "set_groups", "delete"])
async def test_unknown_user_is_not_found(users: UserStore, action: str) -> None:
    calls = {
        "set_password": lambda: users.set_password("ghost", "h"),
        "set_disabled": lambda: users.set_disabled("ghost", True),
        "set_groups": lambda: users.set_groups("ghost", ["g"]),
        "delete": lambda: users.delete("ghost"),
    }
    with pytest.raises(NotFound, match="ghost"):
        await calls[action]()


async def test_delete_cascades(users: UserStore, groups: GroupStore, tokens: TokenStore) -> None:
    await users.add("alice", "h", groups=("devs",))
    await tokens.create(
        token_id="t1", user_name="alice", kind="pat", secret_hash="a" * 64, expires_at=None
    )
    await users.delete("alice")
    assert await users.get("alice") is None
    assert await groups.list() == [("devs", ())]
    assert await tokens.find_by_hash("a" * 64) is None
    await users.add("alice", "h")
    assert (await _get(users, "alice")).groups == ()


async def test_groups_lifecycle(users: UserStore, groups: GroupStore) -> None:
    await users.add("alice", "h")
    await users.add("bob", "h")
    await groups.add("devs")
    await groups.add("empty")
    with pytest.raises(Conflict, match="devs"):
        await groups.add("devs")
    await groups.add_member("devs", "bob")
    await groups.add_member("devs", "alice")
    await groups.add_member("devs", "alice")
    assert await groups.list() == [("devs", ("alice", "bob")), ("empty", ())]
    await groups.remove_member("devs", "bob")
    await groups.remove_member("devs", "bob")
    assert await groups.list() == [("devs", ("alice",)), ("empty", ())]
    await groups.delete("devs")
    assert (await _get(users, "alice")).groups == ()
    assert await groups.list() == [("empty", ())]


async def test_groups_unknown_names(users: UserStore, groups: GroupStore) -> None:
    await users.add("alice", "h")
    await groups.add("devs")
    with pytest.raises(NotFound, match="group 'ops'"):
        await groups.add_member("ops", "alice")
    with pytest.raises(NotFound, match="user 'ghost'"):
        await groups.add_member("devs", "ghost")
    with pytest.raises(NotFound, match="user 'ghost'"):
        await groups.remove_member("devs", "ghost")
    with pytest.raises(NotFound, match="group 'ops'"):
        await groups.delete("ops")


async def test_created_at_comes_from_the_clock(users: UserStore, clock: FrozenClock) -> None:
    clock.advance(3600)
    user = await users.add("alice", "h")
    assert user.created_at == START + timedelta(hours=1)
    assert (await _get(users, "alice")).created_at == user.created_at
