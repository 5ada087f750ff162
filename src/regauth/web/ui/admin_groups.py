"""Admin → Groups: groups and their members (``regauth.admin.groups``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from regauth.admin.groups import (
    AddGroup,
    Membership,
    RemoveGroup,
    add_group,
    add_member,
    list_groups,
    remove_group,
    remove_member,
)
from regauth.errors import AdminInvalid
from regauth.web.ui.endpoint import read_form
from regauth.web.ui.render import page, see_other
from regauth.web.ui.visit import Visit, unit_of_work

PAGE = "/ui/admin/groups"


async def groups(
    request: Request, visit: Visit, *, problems: dict[str, str] | None = None
) -> Response:
    async with unit_of_work(request) as uow:
        found = await list_groups(uow, visit.actor)
    status = 422 if problems else 200
    return page(
        request, "admin/groups.html", visit, status=status, groups=found, problems=problems or {}
    )


async def add(request: Request, visit: Visit) -> Response:
    form = await read_form(request, visit)
    try:
        async with unit_of_work(request) as uow:
            await add_group(uow, visit.actor, AddGroup(str(form.get("name", "")).strip()))
    except AdminInvalid as error:
        return await groups(request, visit, problems=error.fields)
    return see_other(f"{PAGE}?notice=saved")


async def remove(request: Request, visit: Visit) -> Response:
    await read_form(request, visit)
    async with unit_of_work(request) as uow:
        await remove_group(uow, visit.actor, RemoveGroup(request.path_params["name"]))
    return see_other(f"{PAGE}?notice=removed")


async def member(request: Request, visit: Visit) -> Response:
    form = await read_form(request, visit)
    cmd = Membership(request.path_params["name"], str(form.get("user", "")).strip())
    try:
        async with unit_of_work(request) as uow:
            if form.get("remove") == "1":
                await remove_member(uow, visit.actor, cmd)
            else:
                await add_member(uow, visit.actor, cmd)
    except AdminInvalid as error:
        return await groups(request, visit, problems=error.fields)
    return see_other(f"{PAGE}?notice=saved")
