"""``/api/v1/groups``: groups and their members."""

from __future__ import annotations

from regauth.admin import Permission
from regauth.admin import groups as uc
from regauth.web.api.dispatch import Call
from regauth.web.api.models import In, Name, NameParam, Out, Params
from regauth.web.api.table import Link, Operation


class GroupIn(In):
    name: Name


class GroupOut(Out):
    name: str
    members: list[str]


class GroupList(Out):
    items: list[GroupOut]


class GroupPath(Params):
    group: NameParam


class MemberPath(Params):
    group: NameParam
    user: NameParam


async def list_groups(call: Call) -> GroupList:
    async with call.uow() as uow:
        views = await uc.list_groups(uow, call.actor)
    return GroupList(items=[GroupOut.model_validate(v) for v in views])


async def add_group(call: Call) -> GroupOut:
    async with call.uow() as uow:
        view = await uc.add_group(uow, call.actor, uc.AddGroup(call.body(GroupIn).name))
    return GroupOut.model_validate(view)


async def remove_group(call: Call) -> GroupOut:
    async with call.uow() as uow:
        view = await uc.remove_group(uow, call.actor, uc.RemoveGroup(call.params(GroupPath).group))
    return GroupOut.model_validate(view)


async def add_member(call: Call) -> GroupOut:
    p = call.params(MemberPath)
    async with call.uow() as uow:
        view = await uc.add_member(uow, call.actor, uc.Membership(p.group, p.user))
    return GroupOut.model_validate(view)


async def remove_member(call: Call) -> GroupOut:
    p = call.params(MemberPath)
    async with call.uow() as uow:
        view = await uc.remove_member(uow, call.actor, uc.Membership(p.group, p.user))
    return GroupOut.model_validate(view)


_REMOVE = {"remove": Link("removeGroup", {"group": "$response.body#/name"})}
W, R = Permission.GROUPS_WRITE, Permission.GROUPS_READ

OPERATIONS = (
    Operation(
        "GET", "/groups", "listGroups", "Every group with its members", "groups",
        list_groups, R, out=GroupList,
    ),
    Operation(
        "POST", "/groups", "addGroup", "Create a group", "groups",
        add_group, W, body=GroupIn, out=GroupOut, status=201, links=_REMOVE,
    ),
    Operation(
        "DELETE", "/groups/{group}", "removeGroup",
        "Remove a group (its memberships and rules go with it)", "groups",
        remove_group, W, params=GroupPath, out=GroupOut,
    ),
    Operation(
        "PUT", "/groups/{group}/members/{user}", "addGroupMember", "Make a user a member",
        "groups", add_member, W, params=MemberPath, out=GroupOut,
    ),
    Operation(
        "DELETE", "/groups/{group}/members/{user}", "removeGroupMember",
        "Remove a user from a group", "groups", remove_member, W, params=MemberPath, out=GroupOut,
    ),
)  # fmt: skip
