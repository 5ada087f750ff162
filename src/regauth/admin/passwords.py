"""Use case: a local account changes its own password (the web UI's "Change password").

The caller has verified the current password (through the sign-in path and
its throttle) and hashed the new one; this records the change — never the
hash — in the same transaction. Only the account itself, or an actor with
``users:write``, may set it. A new password has no expiry.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from regauth.admin.actor import Actor, Permission
from regauth.admin.uow import Change, UnitOfWork
from regauth.admin.validation import name_problem, require
from regauth.errors import AdminNotFound


@dataclass(frozen=True, slots=True)
class SetPassword:
    user: str
    password_hash: str = field(repr=False)


async def set_password(uow: UnitOfWork, actor: Actor, cmd: SetPassword) -> None:
    if not (actor.kind == "user" and actor.name == cmd.user):
        actor.require(Permission.USERS_WRITE)
    require({"user": name_problem(cmd.user)})
    record = await uow.users.get(cmd.user)
    if record is None or record.kind != "user":
        raise AdminNotFound(f"user {cmd.user!r} not found")
    await uow.users.set_password(cmd.user, cmd.password_hash, expires_at=None)
    uow.record(Change(actor, "user:password", cmd.user, None, {"password": "changed"}))
    await uow.commit()
