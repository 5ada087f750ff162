"""``/api/v1/users`` (accounts and robots) and ``/api/v1/me`` (the caller's own profile)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, model_validator

from regauth.admin import Permission
from regauth.admin import users as uc
from regauth.web.api.dispatch import Call
from regauth.web.api.models import In, Name, NameParam, Out, Query, UserPath
from regauth.web.api.table import Link, Operation, as_mine

Password = Annotated[str, Field(min_length=8, max_length=1024)]
Attributes = Annotated[dict[str, str], Field(max_length=64)]


class UserIn(In):
    name: Name
    password: Password | None = Field(default=None, description="omit for a robot")
    robot: bool = Field(default=False, description="a robot account logs in with tokens only")
    groups: list[Name] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _password(self) -> UserIn:
        if self.robot == (self.password is not None):
            raise ValueError("a user has a password, a robot has none")
        return self


class UserPatch(In):
    """Only the fields given change."""

    disabled: bool | None = None
    password: Password | None = Field(default=None, description="a password reset")
    password_expires_at: datetime | None = None
    clear_password_expiry: bool = False
    attributes: Attributes | None = Field(default=None, description="replaces all attributes")
    groups: list[Name] | None = Field(default=None, max_length=100, description="replaces all")


class PasswordChange(In):
    current_password: str = Field(max_length=1024)
    new_password: Password


class UserTokenOut(Out):
    id: str
    kind: str
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class UserOut(Out):
    name: str
    kind: str
    disabled: bool
    groups: list[str]
    attributes: dict[str, str]
    created_at: datetime
    password_expires_at: datetime | None
    has_password: bool
    tokens: list[UserTokenOut]
    failures: int = Field(description="failed logins in the current throttling window")
    locked_until: datetime | None


class UserPage(Out):
    items: list[UserOut]
    next: str | None = Field(description="pass as `cursor` for the next page; null: last page")


class UserQuery(Query):
    filter: str = Field(default="", max_length=64, description="part of the name")
    group: NameParam | None = None
    cursor: NameParam | None = None
    limit: int = Field(default=100, ge=1, le=1000)


class UnlockOut(Out):
    name: str
    cleared_failures: int


def _lockout(call: Call) -> uc.Lockout:
    throttle = call.state.runtime.settings.auth.throttle
    return uc.Lockout(throttle.max_failures_per_account, throttle.window)


async def _hash(call: Call, password: str | None) -> str | None:
    return None if password is None else await call.state.runtime.hasher.ahash(password)


async def list_users(call: Call) -> UserPage:
    q = call.query(UserQuery)
    cmd = uc.ListUsers(filter=q.filter, group=q.group, after=q.cursor, limit=q.limit)
    async with call.uow() as uow:
        page = await uc.list_users(uow, call.actor, cmd)
    return UserPage(items=[UserOut.model_validate(v) for v in page.items], next=page.next)


async def add_user(call: Call) -> UserOut:
    body = call.body(UserIn)
    hashed = None if body.robot else await _hash(call, body.password)
    cmd = uc.AddUser(body.name, hashed, tuple(body.groups), body.robot)
    async with call.uow() as uow:
        view = await uc.add_user(uow, call.actor, cmd)
    return UserOut.model_validate(view)


async def show_user(call: Call) -> UserOut:
    name = uc.UserName(call.params(UserPath).name)
    async with call.uow() as uow:
        view = await uc.show_user(uow, call.actor, name, _lockout(call))
    return UserOut.model_validate(view)


async def update_user(call: Call) -> UserOut:
    body = call.body(UserPatch)
    cmd = uc.UpdateUser(
        name=call.params(UserPath).name,
        disabled=body.disabled,
        password_hash=await _hash(call, body.password),
        password_expires_at=body.password_expires_at,
        clear_password_expiry=body.clear_password_expiry,
        attributes=body.attributes,
        groups=tuple(body.groups) if body.groups is not None else None,
    )
    async with call.uow() as uow:
        view = await uc.update_user(uow, call.actor, cmd)
    return UserOut.model_validate(view)


async def unlock_user(call: Call) -> UnlockOut:
    name = call.params(UserPath).name
    async with call.uow() as uow:
        cleared = await uc.unlock_user(uow, call.actor, uc.UserName(name), _lockout(call))
    return UnlockOut(name=name, cleared_failures=cleared)


async def remove_user(call: Call) -> UserOut:
    async with call.uow() as uow:
        view = await uc.remove_user(uow, call.actor, uc.UserName(call.params(UserPath).name))
    return UserOut.model_validate(view)


async def show_me(call: Call) -> UserOut:
    async with call.uow() as uow:
        view = await uc.show_me(uow, call.actor)
    return UserOut.model_validate(view)


async def change_password(call: Call) -> None:
    body = call.body(PasswordChange)
    hasher = call.state.runtime.hasher
    cmd = uc.ChangePassword(body.current_password, await hasher.ahash(body.new_password))

    async def verify(stored: str | None, given: str) -> bool:
        return (await hasher.averify(stored, given)).ok

    async with call.uow() as uow:
        await uc.change_own_password(uow, call.actor, cmd, verify)


_LINKS = {
    "show": Link("showUser", {"name": "$response.body#/name"}),
    "update": Link("updateUser", {"name": "$response.body#/name"}),
    "remove": Link("removeUser", {"name": "$response.body#/name"}),
    "createToken": Link("createUserToken", {"name": "$response.body#/name"}),
}
W, R = Permission.USERS_WRITE, Permission.USERS_READ

SHOW_USER = Operation(
    "GET", "/users/{name}", "showUser", "An account with its groups, tokens and lock state",
    "users", show_user, R, params=UserPath, out=UserOut,
)  # fmt: skip

OPERATIONS = (
    Operation(
        "GET", "/users", "listUsers", "Accounts and robots by name, a page at a time", "users",
        list_users, R, query=UserQuery, out=UserPage,
    ),
    Operation(
        "POST", "/users", "addUser", "Create a user (with a password) or a robot", "users",
        add_user, W, body=UserIn, out=UserOut, status=201, links=_LINKS,
    ),
    SHOW_USER,
    Operation(
        "PATCH", "/users/{name}", "updateUser",
        "Disable, reset the password, set its expiry, attributes or groups", "users",
        update_user, W, params=UserPath, body=UserPatch, out=UserOut,
    ),
    Operation(
        "POST", "/users/{name}/unlock", "unlockUser", "Clear the failed-login counter", "users",
        unlock_user, W, params=UserPath, out=UnlockOut,
    ),
    Operation(
        "DELETE", "/users/{name}", "removeUser",
        "Remove an account: its tokens are revoked, its rules and memberships removed", "users",
        remove_user, W, params=UserPath, out=UserOut,
    ),
    as_mine(SHOW_USER, "showMe", "My account", show_me),
    Operation(
        "POST", "/me/password", "changeMyPassword", "Change my password", "me",
        change_password, None, body=PasswordChange,
    ),
)  # fmt: skip
