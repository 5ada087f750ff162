"""My access → Change password, by the admin layer's ``change_own_password``.

The current password is checked through the sign-in path (same throttle as
``/token``); every other browser of the account is signed out afterwards.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from regauth.admin.users import ChangePassword, change_own_password
from regauth.errors import AdminInvalid, AuthenticationError
from regauth.web.state import AppState
from regauth.web.ui import session as sessions
from regauth.web.ui.endpoint import read_form
from regauth.web.ui.render import page, see_other
from regauth.web.ui.signin import facts
from regauth.web.ui.visit import Visit, unit_of_work

MIN_LENGTH = 8


async def form(request: Request, visit: Visit) -> Response:
    return _page(request, visit, 200, {})


def _page(request: Request, visit: Visit, status: int, problems: dict[str, str]) -> Response:
    return page(request, "password/form.html", visit, status=status, problems=problems)


async def change(request: Request, visit: Visit) -> Response:
    data = await read_form(request, visit)
    current, new = str(data.get("current", "")), str(data.get("new", ""))
    if not visit.local:
        return _page(request, visit, 400, {"current": "only local accounts have a password here"})
    if len(new) < MIN_LENGTH:
        return _page(request, visit, 422, {"new": f"at least {MIN_LENGTH} characters"})
    if new != str(data.get("again", "")):
        return _page(request, visit, 422, {"again": "the two new passwords differ"})
    ui = sessions.services(request)

    async def verify(stored_hash: str | None, given: str) -> bool:
        # Through the sign-in path, so that guesses here count against the same throttle.
        try:
            await ui.password.sign_in(visit.user, given, facts(request))
        except AuthenticationError:
            return False
        return True

    state: AppState = request.app.state.regauth
    hashed = await state.runtime.hasher.ahash(new)
    try:
        async with unit_of_work(request) as uow:
            await change_own_password(uow, visit.actor, ChangePassword(current, hashed), verify)
    except AdminInvalid:
        return _page(request, visit, 401, {"current": "this is not your current password"})
    await ui.sessions.end_others(visit.session)
    return see_other("/ui/?notice=password")
