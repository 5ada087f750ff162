"""My access: the landing page after sign-in (tokens, sessions, password, what I may do)."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from regauth.admin.tokens import ListTokens, TokenView, list_tokens
from regauth.web.ui.render import page
from regauth.web.ui.tokens import ACTIONS, EXPIRY_DAYS, RULE_ROWS
from regauth.web.ui.visit import Visit, unit_of_work


async def home(request: Request, visit: Visit) -> Response:
    return await home_page(request, visit)


async def home_page(
    request: Request,
    visit: Visit,
    *,
    status: int = 200,
    problems: Mapping[str, str] | None = None,
    form: FormData | None = None,
) -> Response:
    pats: tuple[TokenView, ...] = ()
    refresh: tuple[TokenView, ...] = ()
    if visit.local:
        async with unit_of_work(request) as uow:
            mine = ListTokens(user=visit.user, include_revoked=False)
            every = await list_tokens(uow, visit.actor, mine)
        pats = tuple(t for t in every if t.kind == "pat")
        refresh = tuple(t for t in every if t.kind == "refresh")
    return page(
        request,
        "home/index.html",
        visit,
        status=status,
        pats=pats,
        refresh=refresh,
        problems=dict(problems or {}),
        form=form or {},
        actions=ACTIONS,
        rule_rows=range(RULE_ROWS),
        expiry_days=EXPIRY_DAYS,
    )
