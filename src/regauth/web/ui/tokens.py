"""My access: personal access tokens and refresh-token sessions of the signed-in user.

Everything goes through the admin layer's token use cases with the visitor's
actor (self-service: a local account may manage its own tokens, nobody
else's). The secret of a new token is the answer to the creating POST — the
one page that is not a redirect, so that the secret is never stored, never
in a URL and shown exactly once; reloading that page cannot show it again.
"""

from __future__ import annotations

from datetime import timedelta

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from regauth.admin.tokens import (
    CreateToken,
    RevokeToken,
    create_token,
    revoke_token,
)
from regauth.errors import AdminInvalid, RequestError
from regauth.web.state import AppState
from regauth.web.ui import session as sessions
from regauth.web.ui.endpoint import read_form
from regauth.web.ui.render import page, see_other
from regauth.web.ui.visit import Visit, unit_of_work

ACTIONS = ("pull", "push", "delete")
RULE_ROWS = 3
EXPIRY_DAYS = (7, 30, 90, 365)


async def new_token(request: Request, visit: Visit) -> Response:
    form = await read_form(request, visit)
    if not visit.local:
        raise RequestError("personal access tokens belong to local accounts")
    try:
        cmd = _command(visit, form)
    except AdminInvalid as error:
        return await _form_again(request, visit, form, error)
    try:
        async with unit_of_work(request) as uow:
            created = await create_token(
                uow, visit.actor, cmd, random=sessions.services(request).random
            )
    except AdminInvalid as error:
        return await _form_again(request, visit, form, error)
    state: AppState = request.app.state.regauth
    registry = state.runtime.settings.ui.registry or "REGISTRY"
    return page(
        request,
        "tokens/created.html",
        visit,
        token=created.token,
        secret=created.secret,
        registry=registry,
    )


async def _form_again(
    request: Request, visit: Visit, form: FormData, error: AdminInvalid
) -> Response:
    from regauth.web.ui.home import home_page

    return await home_page(request, visit, status=422, problems=error.fields, form=form)


def _command(visit: Visit, form: FormData) -> CreateToken:
    name = str(form.get("name", "")).strip()
    days = str(form.get("expires_days", "90")).strip()
    problems: dict[str, str] = {}
    expires: timedelta | None = None
    if days != "never":
        if not days.isdigit() or not 1 <= int(days) <= 3650:
            problems["expires_in"] = "choose a number of days between 1 and 3650"
        else:
            expires = timedelta(days=int(days))
    rules = []
    for index in range(RULE_ROWS):
        pattern = str(form.get(f"rule{index}_name", "")).strip()
        actions = [a for a in ACTIONS if form.get(f"rule{index}_{a}") == "on"]
        if not pattern and not actions:
            continue
        if not pattern:
            problems[f"rules[{index}].name"] = "name the repositories this rule is about"
        elif not actions:
            problems[f"rules[{index}].actions"] = "tick at least one action"
        rules.append({"name": pattern, "actions": actions})
    if problems:
        raise AdminInvalid(problems)
    return CreateToken(user=visit.user, name=name, expires_in=expires, rules=tuple(rules))


async def revoke(request: Request, visit: Visit) -> Response:
    """Revoke one of my tokens (a PAT or a refresh-token session)."""
    await read_form(request, visit)
    token_id = request.path_params["token_id"]
    async with unit_of_work(request) as uow:
        await revoke_token(uow, visit.actor, RevokeToken(token_id=token_id, user=visit.user))
    return see_other("/ui/?notice=revoked")
