"""Use cases on groups: add, remove, list, membership."""

from __future__ import annotations

from dataclasses import dataclass

from regauth.admin.actor import Actor, Permission
from regauth.admin.uow import Change, UnitOfWork
from regauth.admin.validation import name_problem, require
from regauth.errors import AdminNotFound


@dataclass(frozen=True, slots=True)
class AddGroup:
    name: str


@dataclass(frozen=True, slots=True)
class RemoveGroup:
    name: str


@dataclass(frozen=True, slots=True)
class Membership:
    """Command of ``add_member`` / ``remove_member``."""

    group: str
    user: str


@dataclass(frozen=True, slots=True)
class GroupView:
    name: str
    members: tuple[str, ...]


async def add_group(uow: UnitOfWork, actor: Actor, cmd: AddGroup) -> GroupView:
    actor.require(Permission.GROUPS_WRITE)
    require({"name": name_problem(cmd.name)})
    await uow.groups.add(cmd.name)
    view = GroupView(cmd.name, ())
    uow.record(Change(actor, "group:add", cmd.name, None, _snapshot(view)))
    await uow.commit()
    return view


async def remove_group(uow: UnitOfWork, actor: Actor, cmd: RemoveGroup) -> GroupView:
    """Remove a group; its memberships and rules go with it."""
    actor.require(Permission.GROUPS_WRITE)
    before = await _get(uow, cmd.name)
    await uow.groups.delete(cmd.name)
    uow.record(Change(actor, "group:remove", cmd.name, _snapshot(before), None))
    await uow.commit()
    return before


async def list_groups(uow: UnitOfWork, actor: Actor) -> tuple[GroupView, ...]:
    actor.require(Permission.GROUPS_READ)
    return tuple(GroupView(name, members) for name, members in await uow.groups.list())


async def add_member(uow: UnitOfWork, actor: Actor, cmd: Membership) -> GroupView:
    return await _membership(uow, actor, cmd, add=True)


async def remove_member(uow: UnitOfWork, actor: Actor, cmd: Membership) -> GroupView:
    return await _membership(uow, actor, cmd, add=False)


async def _membership(uow: UnitOfWork, actor: Actor, cmd: Membership, *, add: bool) -> GroupView:
    actor.require(Permission.GROUPS_WRITE)
    require({"group": name_problem(cmd.group), "user": name_problem(cmd.user)})
    before = await _get(uow, cmd.group)
    if add:
        await uow.groups.add_member(cmd.group, cmd.user)
    else:
        await uow.groups.remove_member(cmd.group, cmd.user)
    after = await _get(uow, cmd.group)
    if after != before:
        kind = "group:add_member" if add else "group:remove_member"
        uow.record(Change(actor, kind, cmd.group, _snapshot(before), _snapshot(after)))
        await uow.commit()
    return after


async def _get(uow: UnitOfWork, name: str) -> GroupView:
    for group, members in await uow.groups.list():
        if group == name:
            return GroupView(group, members)
    raise AdminNotFound(f"group {name!r} not found")


def _snapshot(view: GroupView) -> dict[str, object]:
    return {"name": view.name, "members": list(view.members)}
