"""The web UI and the admin API, mounted now and imported on their first request.

A serving worker answers ``/token`` and the JWKS; the UI (Jinja2, every page
module) and the admin API (its pydantic models, the administration layer) cost
memory in every worker that no registry client uses. Their mounts are placed
in the route table as before, but the code behind them is imported and built
by the first request under ``/ui`` or ``/api/v1``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from regauth.config import Settings
from regauth.ports import Clock, Random

if TYPE_CHECKING:
    from regauth.web.api.dispatch import Role

API_PREFIX = "/api/v1"


class LazyApp:
    """An ASGI application built by ``build`` when the first request reaches it."""

    def __init__(self, build: Callable[[], ASGIApp]) -> None:
        self._build = build
        self._app: ASGIApp | None = None

    @property
    def built(self) -> bool:
        return self._app is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self._app
        if app is None:  # synchronous: two first requests cannot both build it
            app = self._app = self._build()
        await app(scope, receive, send)


def ui_routes(settings: Settings) -> list[BaseRoute]:
    """``/ui`` (and ``/`` sending browsers there), unless ``ui.enabled`` is false."""
    if not settings.ui.enabled:
        return []
    return [Route("/", _to_ui, methods=["GET"]), Mount("/ui", app=LazyApp(_ui_app))]


def api_routes(clock: Clock, random: Random, role: Role) -> list[BaseRoute]:
    """``/api/v1``: the admin API (it answers 404 itself where it is not served)."""

    def build() -> ASGIApp:
        from regauth.web.api import ApiEnv, api_router

        return api_router(ApiEnv(clock, random, role))

    return [Mount(API_PREFIX, app=LazyApp(build))]


def _ui_app() -> ASGIApp:
    from regauth.web.ui import ui_app

    return ui_app()


async def _to_ui(request: Request) -> Response:
    return RedirectResponse("/ui/", 303)
