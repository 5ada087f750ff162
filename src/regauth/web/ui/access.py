"""What can I do? The rules that apply to the signed-in user, in the order they count."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from regauth.admin.access import MyAccess, my_access
from regauth.web.ui.context import rules_context
from regauth.web.ui.render import page
from regauth.web.ui.visit import Visit, unit_of_work


async def access(request: Request, visit: Visit) -> Response:
    cmd = MyAccess(visit.user, tuple(sorted(visit.session.principal.groups)))
    async with unit_of_work(request) as uow:
        view = await my_access(uow, visit.actor, cmd, rules_context(request))
    return page(request, "access/index.html", visit, view=view)
