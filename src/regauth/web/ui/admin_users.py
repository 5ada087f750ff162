"""Admin → Users: find a user (by name or group), add, unlock, remove (``regauth.admin.users``)."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from regauth.admin.groups import list_groups
from regauth.admin.users import (
    AddUser,
    ListUsers,
    Lockout,
    UpdateUser,
    UserName,
    UserView,
    add_user,
    list_users,
    remove_user,
    show_user,
    unlock_user,
    update_user,
)
from regauth.admin.validation import name_problem, require
from regauth.errors import AdminInvalid
from regauth.web.state import AppState
from regauth.web.ui.endpoint import read_form
from regauth.web.ui.render import page, see_other
from regauth.web.ui.visit import Visit, unit_of_work

PAGE = "/ui/admin/users"
MIN_PASSWORD = 8


def _lockout(request: Request) -> Lockout:
    state: AppState = request.app.state.regauth
    throttle = state.runtime.settings.auth.throttle
    return Lockout(throttle.max_failures_per_account, throttle.window)


async def users(
    request: Request,
    visit: Visit,
    *,
    status: int = 200,
    problems: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    query = request.query_params.get("q", "").strip()[:128]
    after = request.query_params.get("after", "").strip()[:128] or None
    group = request.query_params.get("group", "").strip()[:128]
    found: UserView | None = None
    async with unit_of_work(request) as uow:
        groups = [g.name for g in await list_groups(uow, visit.actor)]
        cmd = ListUsers(filter=query, group=group or None, after=after, limit=50)
        listed = await list_users(uow, visit.actor, cmd)
    names = [u.name for u in listed.items]
    target = query if query in names else (names[0] if query and len(names) == 1 else None)
    if target is not None:
        async with unit_of_work(request) as uow:
            found = await show_user(uow, visit.actor, UserName(target), _lockout(request))
    missing = bool(query or group) and not names
    return page(
        request,
        "admin/users.html",
        visit,
        status=status,
        query=query,
        group=group,
        groups=groups,
        found=found,
        missing=missing,
        listed=listed,
        problems=problems or {},
        form=form or {},
    )


async def users_page(request: Request, visit: Visit) -> Response:
    return await users(request, visit)


async def add(request: Request, visit: Visit) -> Response:
    form = await read_form(request, visit)
    name = str(form.get("name", "")).strip()
    password = str(form.get("password", ""))
    robot = form.get("robot") == "on"
    groups = tuple(g for g in str(form.get("groups", "")).replace(",", " ").split() if g)
    kept = {"name": name, "groups": " ".join(groups)}
    try:
        require({"name": name_problem(name), "password": _password_problem(password, robot)})
        state: AppState = request.app.state.regauth
        hashed = None if robot else await state.runtime.hasher.ahash(password)
        async with unit_of_work(request) as uow:
            await add_user(uow, visit.actor, AddUser(name, hashed, groups, robot))
    except AdminInvalid as error:
        return await users(request, visit, status=422, problems=error.fields, form=kept)
    return see_other(f"{PAGE}?q={quote(name)}&notice=saved")


def _password_problem(password: str, robot: bool) -> str | None:
    if robot:
        return "a robot has no password: leave it empty" if password else None
    if len(password) < MIN_PASSWORD:
        return f"at least {MIN_PASSWORD} characters"
    return None


async def remove(request: Request, visit: Visit) -> Response:
    await read_form(request, visit)
    async with unit_of_work(request) as uow:
        await remove_user(uow, visit.actor, UserName(request.path_params["name"]))
    return see_other(f"{PAGE}?notice=removed")


async def unlock(request: Request, visit: Visit) -> Response:
    await read_form(request, visit)
    name = request.path_params["name"]
    async with unit_of_work(request) as uow:
        await unlock_user(uow, visit.actor, UserName(name), _lockout(request))
    return see_other(f"{PAGE}?q={quote(name)}&notice=saved")


async def update(request: Request, visit: Visit) -> Response:
    """Disable or enable an account, or replace its attributes (one ``key=value`` a line)."""
    form = await read_form(request, visit)
    name = request.path_params["name"]
    action = str(form.get("action", ""))
    if action in ("disable", "enable"):
        cmd = UpdateUser(name, disabled=action == "disable")
    elif action == "attributes":
        cmd = UpdateUser(name, attributes=_attributes(str(form.get("attributes", ""))))
    else:
        raise AdminInvalid({"action": "disable, enable or attributes"})
    try:
        async with unit_of_work(request) as uow:
            await update_user(uow, visit.actor, cmd)
    except AdminInvalid as error:
        return await users(request, visit, status=422, problems=error.fields)
    return see_other(f"{PAGE}?q={quote(name)}&notice=saved")


def _attributes(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise AdminInvalid({f"attributes.line{number}": "write key=value, one a line"})
        found[key.strip()] = value.strip()
    return found
