"""Admin → Check access: pick a caller and a scope, see the decision stage by stage.

A read-only question, so a GET form (the answer can be bookmarked). It runs the
admin layer's :func:`regauth.admin.check.check_access` with the server's own
decider: account rules, token rules, plan, CEL policies, webhooks — each
stage's decision and the rule that made it.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from regauth.admin.check import CheckAccess, CheckView, check_access
from regauth.admin.validation import require
from regauth.domain.scope import parse_scopes
from regauth.errors import AdminInvalid, ProblemError
from regauth.web.state import AppState
from regauth.web.ui.render import page
from regauth.web.ui.visit import Visit, unit_of_work

MAX_SCOPES = 20


async def check(request: Request, visit: Visit) -> Response:
    state: AppState = request.app.state.regauth
    settings = state.runtime.settings
    params = request.query_params
    services = settings.token.services
    form = {
        "user": params.get("user", "").strip(),
        "scope": params.get("scope", "").strip(),
        "service": params.get("service", services[0] if services else "").strip(),
        "client_ip": params.get("client_ip", "").strip(),
        "token_id": params.get("token_id", "").strip(),
    }
    view: CheckView | None = None
    refusal: ProblemError | None = None
    problems: dict[str, str] = {}
    if form["scope"]:
        try:
            view = await _run(request, visit, form)
        except AdminInvalid as error:
            problems = error.fields
        except ProblemError as error:  # what the server would answer (401, 403, 400)
            if error.code.startswith("admin.forbidden"):
                raise
            refusal = error
    return page(
        request,
        "admin/check.html",
        visit,
        status=422 if problems else 200,
        form=form,
        services=services,
        view=view,
        refusal=refusal,
        problems=problems,
    )


async def _run(request: Request, visit: Visit, form: dict[str, str]) -> CheckView:
    state: AppState = request.app.state.regauth
    lines = [line for line in form["scope"].replace(",\n", "\n").split() if line]
    require({"scope": f"at most {MAX_SCOPES} scopes" if len(lines) > MAX_SCOPES else None})
    try:
        scopes = parse_scopes(lines)
    except ProblemError as error:
        raise AdminInvalid({"scope": error.detail or error.title}) from None
    cmd = CheckAccess(
        scopes=scopes,
        service=form["service"],
        user=form["user"] or None,
        token_id=form["token_id"] or None,
        client_ip=form["client_ip"] or None,
    )
    async with unit_of_work(request) as uow:
        return await check_access(uow, visit.actor, cmd, state.runtime.decider)
