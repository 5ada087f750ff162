"""Use cases on accounts that :mod:`regauth.admin.users` does not cover: list, update, self-service.

* ``list_users`` pages through the accounts by name (``after`` is the last
  name of the previous page), optionally only those whose name contains
  ``filter`` or that are in ``group``; ``all_users`` reads them all at once;
* ``update_user`` applies a patch: disable/enable, a new password hash (the
  caller hashes, as for ``add_user``), password expiry, attributes, groups;
* ``show_me`` and ``change_own_password`` are the self-service side: a local
  account reads its own profile and changes its password after proving the
  current one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from regauth.admin.actor import Actor, Permission
from regauth.admin.uow import Change, UnitOfWork
from regauth.admin.users import UserView, _token
from regauth.admin.users import _snapshot as _user_snapshot
from regauth.admin.users import _view as _user_view
from regauth.admin.validation import name_problem, require
from regauth.errors import AdminForbidden, AdminInvalid, AdminNotFound

MAX_ATTRIBUTES = 64
MAX_ATTRIBUTE_CHARS = 1024
Verify = Callable[[str | None, str], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class ListUsers:
    filter: str = ""
    group: str | None = None
    after: str | None = None
    limit: int = 100


@dataclass(frozen=True, slots=True)
class UserPage:
    items: tuple[UserView, ...]
    next: str | None  # the ``after`` of the next page; None: this was the last


@dataclass(frozen=True, slots=True)
class UpdateUser:
    """Only the fields that are not None change."""

    name: str
    disabled: bool | None = None
    password_hash: str | None = field(default=None, repr=False)
    password_expires_at: datetime | None = None
    clear_password_expiry: bool = False
    attributes: Mapping[str, str] | None = None
    groups: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class ChangePassword:
    current_password: str = field(repr=False)
    new_password_hash: str = field(repr=False)


async def list_users(uow: UnitOfWork, actor: Actor, cmd: ListUsers) -> UserPage:
    actor.require(Permission.USERS_READ)
    require({"limit": None if 1 <= cmd.limit <= 1000 else "limit is 1 to 1000"})
    records = [
        r
        for r in await uow.users.list()
        if cmd.filter in r.name
        and (cmd.group is None or cmd.group in r.groups)
        and (cmd.after is None or r.name > cmd.after)
    ]
    page = records[: cmd.limit]
    more = len(records) > cmd.limit
    return UserPage(tuple(_user_view(r) for r in page), page[-1].name if more else None)


async def all_users(uow: UnitOfWork, actor: Actor) -> tuple[UserView, ...]:
    """Every account, by name, in one read (the CLI's listing; the API pages instead)."""
    actor.require(Permission.USERS_READ)
    return tuple(_user_view(r) for r in await uow.users.list())


async def update_user(uow: UnitOfWork, actor: Actor, cmd: UpdateUser) -> UserView:
    actor.require(Permission.USERS_WRITE)
    _validate(cmd)
    before = await _get(uow, cmd.name)
    if cmd.disabled is not None:
        await uow.users.set_disabled(cmd.name, cmd.disabled)
    if cmd.password_hash is not None or cmd.password_expires_at or cmd.clear_password_expiry:
        await _set_password(uow, cmd, before)
    if cmd.attributes is not None:
        await uow.users.set_attributes(cmd.name, dict(cmd.attributes))
    if cmd.groups is not None:
        await uow.users.set_groups(cmd.name, cmd.groups)
    after = await _get(uow, cmd.name)
    changed = _snapshot(after) | {"password_changed": cmd.password_hash is not None}
    uow.record(Change(actor, "user:update", cmd.name, _snapshot(before), changed))
    await uow.commit()
    return after


async def show_me(uow: UnitOfWork, actor: Actor) -> UserView:
    """The caller's own account (any local account may read its own)."""
    _require_local(actor)
    record = await uow.users.get(actor.name)
    if record is None:
        raise AdminNotFound("this account is not a local account")
    tokens = tuple(_token(t) for t in await uow.tokens.list(user_name=actor.name))
    return _user_view(record, tokens)


async def change_own_password(
    uow: UnitOfWork, actor: Actor, cmd: ChangePassword, verify: Verify
) -> None:
    """Set a new password after checking the current one (``verify(stored_hash, given)``)."""
    _require_local(actor)
    record = await uow.users.get(actor.name)
    if record is None:
        raise AdminNotFound("this account has no local password")
    if not await verify(record.password_hash, cmd.current_password):
        raise AdminInvalid({"current_password": "this is not the current password"})
    await uow.users.set_password(actor.name, cmd.new_password_hash, expires_at=None)
    uow.record(Change(actor, "user:password", actor.name, None, {"password_changed": True}))
    await uow.commit()


def _require_local(actor: Actor) -> None:
    if actor.kind != "user":
        raise AdminForbidden("only a local account has a profile and a password here")


def _validate(cmd: UpdateUser) -> None:
    problems: dict[str, str | None] = {"name": name_problem(cmd.name)}
    for i, group in enumerate(cmd.groups or ()):
        problems[f"groups[{i}]"] = name_problem(group)
    attributes = cmd.attributes or {}
    if len(attributes) > MAX_ATTRIBUTES:
        problems["attributes"] = f"at most {MAX_ATTRIBUTES} attributes"
    for key, value in attributes.items():
        if not key or len(key) + len(value) > MAX_ATTRIBUTE_CHARS or not key.isprintable():
            problems[f"attributes.{key[:40]}"] = "a key is printable, key and value are short"
    if cmd.password_expires_at is not None and cmd.clear_password_expiry:
        problems["password_expires_at"] = "give an expiry or clear it, not both"  # noqa: S105
    require(problems)


async def _get(uow: UnitOfWork, name: str) -> UserView:
    record = await uow.users.get(name)
    if record is None:
        raise AdminNotFound(f"user {name!r} not found")
    return _user_view(record)


async def _set_password(uow: UnitOfWork, cmd: UpdateUser, before: UserView) -> None:
    """A new hash and/or expiry; what the patch does not name stays as it was."""
    record = await uow.users.get(cmd.name)
    password_hash = cmd.password_hash or (record.password_hash if record else None)
    expires = cmd.password_expires_at or before.password_expires_at
    await uow.users.set_password(
        cmd.name, password_hash, expires_at=None if cmd.clear_password_expiry else expires
    )


def _snapshot(view: UserView) -> dict[str, object]:
    expires = view.password_expires_at
    return _user_snapshot(view) | {"password_expires_at": expires.isoformat() if expires else None}
