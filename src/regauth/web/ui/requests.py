"""Temporary access in the UI (``regauth.admin.access_requests``).

``/ui/requests``: a signed-in user asks for actions on one repository for a
while, with a reason, and follows each request (pending, approved until …,
denied, revoked, expired); a pending request or a live grant can be
withdrawn. ``/ui/admin/access``: administrators see every request and
approve, deny or revoke it, and the registry events stored for a repository.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from regauth.admin.access_requests import (
    STATES,
    AccessPolicy,
    AccessRequestId,
    DecideAccessRequest,
    ListAccessRequests,
    RegistryEventsQuery,
    RegistryEventView,
    RequestAccess,
    decide_access_request,
    list_access_requests,
    list_registry_events,
    request_access,
    revoke_access_request,
)
from regauth.errors import AdminInvalid
from regauth.web.state import AppState
from regauth.web.ui.endpoint import read_form
from regauth.web.ui.render import page, see_other
from regauth.web.ui.visit import Visit, unit_of_work

PAGE = "/ui/requests"
ADMIN_PAGE = "/ui/admin/access"
ACTIONS = ("pull", "push", "delete")
# Offered durations, in minutes (the configured maximum caps them).
DURATIONS = (
    (30, "30 minutes"),
    (60, "1 hour"),
    (240, "4 hours"),
    (480, "8 hours"),
    (1440, "1 day"),
)


def _policy(request: Request) -> AccessPolicy:
    state: AppState = request.app.state.regauth
    return AccessPolicy.of(state.runtime.settings.events.approval)


def _nudge(request: Request) -> None:
    """Deliver the ``access.*`` event now rather than at the next poll."""
    state: AppState = request.app.state.regauth
    if state.runtime.events is not None:
        state.runtime.events.worker.nudge()


async def requests_page(
    request: Request,
    visit: Visit,
    *,
    status: int = 200,
    problems: dict[str, str] | None = None,
    form: FormData | None = None,
) -> Response:
    async with unit_of_work(request) as uow:
        mine = await list_access_requests(uow, visit.actor, ListAccessRequests(visit.user))
    policy = _policy(request)
    return page(
        request,
        "requests/index.html",
        visit,
        status=status,
        requests=mine,
        policy=policy,
        durations=[d for d in DURATIONS if d[0] * 60 <= policy.max_duration],
        actions=ACTIONS,
        problems=problems or {},
        form=form or {},
    )


async def requests(request: Request, visit: Visit) -> Response:
    return await requests_page(request, visit)


async def new_request(request: Request, visit: Visit) -> Response:
    form = await read_form(request, visit)
    actions = tuple(a for a in ACTIONS if form.get(f"action_{a}") == "on")
    minutes = str(form.get("minutes", ""))
    cmd = RequestAccess(
        visit.user,
        str(form.get("repository", "")).strip(),
        actions,
        int(minutes) * 60 if minutes.isdigit() and len(minutes) < 7 else 0,
        str(form.get("reason", "")).strip(),
    )
    try:
        async with unit_of_work(request) as uow:
            await request_access(uow, visit.actor, cmd, _policy(request))
    except AdminInvalid as error:
        return await requests_page(request, visit, status=422, problems=error.fields, form=form)
    _nudge(request)
    return see_other(f"{PAGE}?notice=requested")


async def withdraw(request: Request, visit: Visit) -> Response:
    await read_form(request, visit)
    cmd = AccessRequestId(request.path_params["request_id"], visit.user)
    async with unit_of_work(request) as uow:
        await revoke_access_request(uow, visit.actor, cmd)
    _nudge(request)
    return see_other(f"{PAGE}?notice=withdrawn")


async def admin_access(request: Request, visit: Visit) -> Response:
    state = request.query_params.get("state", "")
    state = state if state in STATES else ""
    repository = request.query_params.get("repository", "").strip()[:255]
    events: tuple[RegistryEventView, ...] = ()
    async with unit_of_work(request) as uow:
        found = await list_access_requests(
            uow, visit.actor, ListAccessRequests(None, state or None, 100)
        )
        if repository:
            events = await list_registry_events(
                uow, visit.actor, RegistryEventsQuery(repository, 50)
            )
    return page(
        request,
        "admin/access.html",
        visit,
        requests=found,
        state=state,
        states=STATES,
        repository=repository,
        events=events,
        policy=_policy(request),
    )


async def admin_decide(request: Request, visit: Visit) -> Response:
    form = await read_form(request, visit)
    request_id: int = request.path_params["request_id"]
    decision = str(form.get("decision", ""))
    async with unit_of_work(request) as uow:
        if decision == "revoke":
            await revoke_access_request(uow, visit.actor, AccessRequestId(request_id))
        else:
            await decide_access_request(uow, visit.actor, DecideAccessRequest(request_id, decision))
    _nudge(request)
    back = str(form.get("back", ""))
    query = f"state={quote(back)}&" if back in STATES else ""
    return see_other(f"{ADMIN_PAGE}?{query}notice=saved")
