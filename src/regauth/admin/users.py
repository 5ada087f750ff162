"""Use cases on local users and robots: add, show, remove, unlock.

``remove_user`` revokes the account's personal access tokens and refresh
tokens, then deletes the account with its rules and memberships; its audit
history stays (audit events name the subject, they do not reference it).
``unlock_user`` clears the per-account failed-login counter that throttling
keeps; ``show_user`` reports it as the lock state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from regauth.admin.actor import Actor, Permission
from regauth.admin.uow import Change, UnitOfWork
from regauth.admin.validation import name_problem, require
from regauth.errors import AdminNotFound
from regauth.store import TokenRecord, UserRecord
from regauth.store.models import AuthFailure
from regauth.store.throttle import hashed_key


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
