"""The admin HTTP API, ``/api/v1``: the route table, its OpenAPI document, mounting.

Every operation parses its input with pydantic models, calls one use case of
:mod:`regauth.admin` and renders the view it returns (see :mod:`.table`).
The API is served by the main application unless ``admin.enabled`` is false;
with ``admin.listen`` it is served only by the admin listener.
"""

from __future__ import annotations

from functools import cache

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, Router

from regauth.web.api import access, audit, config, groups, keys, rules, tokens, users
from regauth.web.api.dispatch import ApiEnv, routes, served
from regauth.web.api.openapi import document, dumps
from regauth.web.api.table import Operation

OPERATIONS: tuple[Operation, ...] = (
    *users.OPERATIONS,
    *groups.OPERATIONS,
    *rules.OPERATIONS,
    *keys.OPERATIONS,
    *tokens.OPERATIONS,
    *audit.OPERATIONS,
    *access.OPERATIONS,
    *config.OPERATIONS,
)


@cache
def openapi_bytes() -> bytes:
    return dumps(document(OPERATIONS))


def api_router(env: ApiEnv) -> Router:
    """The API's routes, relative to ``/api/v1`` (mounted there by :mod:`regauth.web.lazy`)."""

    async def openapi(request: Request) -> Response:
        served(request.app.state.regauth, env.role)
        return Response(openapi_bytes(), 200, {"Cache-Control": "no-cache"}, "application/json")

    table: list[BaseRoute] = [Route("/openapi.json", openapi, methods=["GET"])]
    # No "/x/" → "/x" redirect, as on the main application.
    return Router(routes=table + routes(OPERATIONS, env, prefix=""), redirect_slashes=False)


__all__ = ["OPERATIONS", "ApiEnv", "api_router", "openapi_bytes"]
