"""Use cases on local users and robots: add, list, show, update, remove, unlock, self-service.

* ``list_users`` pages through the accounts by name (``after`` is the last
  name of the previous page), optionally only those whose name contains
  ``filter`` or that are in ``group``; ``all_users`` reads them all at once;
* ``update_user`` applies a patch: disable/enable, a new password hash (the
  caller hashes, as for ``add_user``), password expiry, attributes, groups;
* ``remove_user`` revokes the account's personal access tokens and refresh
  tokens, then deletes the account with its rules and memberships; its audit
  history stays (audit events name the subject, they do not reference it);
* ``unlock_user`` clears the per-account failed-login counter that throttling
  keeps; ``show_user`` reports it as the lock state;
* ``show_me`` and ``change_own_password`` are the self-service side: a local
  account reads its own profile and changes its password after proving the
  current one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from regauth.admin.actor import Actor, Permission
from regauth.admin.uow import Change, UnitOfWork
from regauth.admin.validation import name_problem, require
from regauth.errors import AdminForbidden, AdminInvalid, AdminNotFound
from regauth.store import TokenRecord, UserRecord
from regauth.store.models import AuthFailure
from regauth.store.throttle import hashed_key

MAX_ATTRIBUTES = 64
MAX_ATTRIBUTE_CHARS = 1024
Verify = Callable[[str | None, str], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class AddUser:
    name: str
    password_hash: str | None = field(default=None, repr=False)  # None: a robot, tokens only
    groups: tuple[str, ...] = ()
    robot: bool = False


@dataclass(frozen=True, slots=True)
class UserName:
    """Command of ``show_user``, ``remove_user`` and ``unlock_user``."""

    name: str


@dataclass(frozen=True, slots=True)
class Lockout:
    """The throttling policy the lock state is judged by (``[auth.throttle]``)."""

    max_failures: int = 10
    window: int = 300


@dataclass(frozen=True, slots=True)
class TokenView:
    id: str
    kind: str
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    def state(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


@dataclass(frozen=True, slots=True)
class UserView:
    name: str
    kind: str
    disabled: bool
    groups: tuple[str, ...]
    attributes: Mapping[str, str]
    created_at: datetime
    password_expires_at: datetime | None
    has_password: bool
    tokens: tuple[TokenView, ...] = ()
    failures: int = 0
    locked_until: datetime | None = None


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


async def add_user(uow: UnitOfWork, actor: Actor, cmd: AddUser) -> UserView:
    actor.require(Permission.USERS_WRITE)
    problems = {"name": name_problem(cmd.name)}
    problems |= {f"groups[{i}]": name_problem(g) for i, g in enumerate(cmd.groups)}
    require(problems)
    kind = "robot" if cmd.robot else "user"
    record = await uow.users.add(cmd.name, cmd.password_hash, groups=cmd.groups, kind=kind)
    view = _view(record)
    uow.record(Change(actor, "user:add", cmd.name, None, _snapshot(view)))
    await uow.commit()
    return view


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
    return UserPage(tuple(_view(r) for r in page), page[-1].name if more else None)


async def all_users(uow: UnitOfWork, actor: Actor) -> tuple[UserView, ...]:
    """Every account, by name, in one read (the CLI's listing; the API pages instead)."""
    actor.require(Permission.USERS_READ)
    return tuple(_view(r) for r in await uow.users.list())


async def show_user(
    uow: UnitOfWork, actor: Actor, cmd: UserName, lockout: Lockout = Lockout()
) -> UserView:
    """The account with its groups, attributes, tokens and lock state."""
    actor.require(Permission.USERS_READ)
    record = await _get(uow, cmd.name)
    tokens = tuple(_token(t) for t in await uow.tokens.list(user_name=cmd.name))
    failures, resets_at = await _failures(uow, cmd.name, lockout)
    locked = lockout.max_failures > 0 and failures >= lockout.max_failures
    return _view(record, tokens, failures, resets_at if locked else None)


async def update_user(uow: UnitOfWork, actor: Actor, cmd: UpdateUser) -> UserView:
    actor.require(Permission.USERS_WRITE)
    _validate(cmd)
    before = _view(await _get(uow, cmd.name))
    if cmd.disabled is not None:
        await uow.users.set_disabled(cmd.name, cmd.disabled)
    if cmd.password_hash is not None or cmd.password_expires_at or cmd.clear_password_expiry:
        await _set_password(uow, cmd, before)
    if cmd.attributes is not None:
        await uow.users.set_attributes(cmd.name, dict(cmd.attributes))
    if cmd.groups is not None:
        await uow.users.set_groups(cmd.name, cmd.groups)
    after = _view(await _get(uow, cmd.name))
    changed = _update_snapshot(after) | {"password_changed": cmd.password_hash is not None}
    uow.record(Change(actor, "user:update", cmd.name, _update_snapshot(before), changed))
    await uow.commit()
    return after


async def remove_user(uow: UnitOfWork, actor: Actor, cmd: UserName) -> UserView:
    actor.require(Permission.USERS_WRITE)
    record = await _get(uow, cmd.name)
    tokens = await uow.tokens.list(user_name=cmd.name)
    rules = await uow.rules.list(user=cmd.name)
    revoked = await uow.tokens.revoke_all(cmd.name)
    await uow.users.delete(cmd.name)
    before = _snapshot(_view(record)) | {
        "tokens": [t.id for t in tokens],
        "revoked_tokens": revoked,
        "rules": [r.id for r in rules],
    }
    uow.record(Change(actor, "user:remove", cmd.name, before, None))
    await uow.commit()
    return _view(record, tuple(_token(t) for t in tokens))


async def unlock_user(
    uow: UnitOfWork, actor: Actor, cmd: UserName, lockout: Lockout = Lockout()
) -> int:
    """Clear the account's failed-login counter; returns the failures it held."""
    actor.require(Permission.USERS_WRITE)
    require({"name": name_problem(cmd.name)})
    failures, _ = await _failures(uow, cmd.name, lockout)
    key = hashed_key(f"account:{cmd.name}")
    await uow.session.execute(delete(AuthFailure).where(AuthFailure.key == key))
    uow.record(Change(actor, "user:unlock", cmd.name, {"failures": failures}, {"failures": 0}))
    await uow.commit()
    return failures


async def show_me(uow: UnitOfWork, actor: Actor) -> UserView:
    """The caller's own account (any local account may read its own)."""
    _require_local(actor)
    record = await uow.users.get(actor.name)
    if record is None:
        raise AdminNotFound("this account is not a local account")
    tokens = tuple(_token(t) for t in await uow.tokens.list(user_name=actor.name))
    return _view(record, tokens)


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


async def _get(uow: UnitOfWork, name: str) -> UserRecord:
    record = await uow.users.get(name)
    if record is None:
        raise AdminNotFound(f"user {name!r} not found")
    return record


async def _failures(uow: UnitOfWork, name: str, lockout: Lockout) -> tuple[int, datetime | None]:
    window = timedelta(seconds=lockout.window)
    query = select(AuthFailure.window_start, AuthFailure.count).where(
        AuthFailure.key == hashed_key(f"account:{name}"),
        AuthFailure.window_start > uow.clock.now() - window,
    )
    row = (await uow.session.execute(query)).first()
    if row is None:
        return 0, None
    start, count = row
    return count, start + window


async def _set_password(uow: UnitOfWork, cmd: UpdateUser, before: UserView) -> None:
    """A new hash and/or expiry; what the patch does not name stays as it was."""
    record = await uow.users.get(cmd.name)
    password_hash = cmd.password_hash or (record.password_hash if record else None)
    expires = cmd.password_expires_at or before.password_expires_at
    await uow.users.set_password(
        cmd.name, password_hash, expires_at=None if cmd.clear_password_expiry else expires
    )


def _view(
    record: UserRecord,
    tokens: tuple[TokenView, ...] = (),
    failures: int = 0,
    locked_until: datetime | None = None,
) -> UserView:
    return UserView(
        name=record.name,
        kind=record.kind,
        disabled=record.disabled,
        groups=record.groups,
        attributes=dict(record.attributes),
        created_at=record.created_at,
        password_expires_at=record.password_expires_at,
        has_password=record.password_hash is not None,
        tokens=tokens,
        failures=failures,
        locked_until=locked_until,
    )


def _token(record: TokenRecord) -> TokenView:
    return TokenView(
        id=record.id,
        kind=record.kind,
        name=record.name or record.client_id,
        created_at=record.created_at,
        expires_at=record.expires_at,
        revoked_at=record.revoked_at,
        last_used_at=record.last_used_at,
    )


def _snapshot(view: UserView) -> dict[str, object]:
    return {
        "name": view.name,
        "kind": view.kind,
        "disabled": view.disabled,
        "groups": list(view.groups),
        "attributes": dict(view.attributes),
    }


def _update_snapshot(view: UserView) -> dict[str, object]:
    expires = view.password_expires_at
    return _snapshot(view) | {"password_expires_at": expires.isoformat() if expires else None}
