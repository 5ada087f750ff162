"""The ASGI application factory.

``create_app(settings)`` for tests and embedding; ``app_from_environment()``
is the target ``regauth serve`` hands to granian (one call per worker).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from regauth import logs
from regauth.config import Settings, find_config_path
from regauth.errors import ProblemError
from regauth.events.routes import (
    APPROVAL_PATH,
    REGISTRY_PATH,
    approval_response,
    registry_notifications,
)
from regauth.ports import Clock, Random, SystemClock, SystemRandom
from regauth.runtime import Runtime
from regauth.web.client_ip import parse_networks
from regauth.web.fast import TokenFastPath
from regauth.web.lazy import api_routes, ui_routes
from regauth.web.metrics import Metrics, require_admin
from regauth.web.problems import handle_http, handle_problem, handle_unexpected
from regauth.web.reload import Supervisor, load_with_fallback
from regauth.web.state import AppState
from regauth.web.token import token_endpoint

if TYPE_CHECKING:
    from regauth.web.api.dispatch import Role

log = logging.getLogger("regauth")


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    random: Random | None = None,
    config_path: Path | None = None,
    role: Role = "public",
) -> Starlette:
    """The Starlette application; with ``config_path`` it reloads when the file changes.

    ``role="admin"`` is the admin listener (``admin.listen``): the admin API and
    ``/healthz`` only.
    """
    clock = clock or SystemClock()
    random = random or SystemRandom()
    metrics = Metrics.from_environment()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        def install(runtime: Runtime) -> None:
            s = runtime.settings
            app.state.regauth = AppState(runtime, metrics, parse_networks(s.server.trusted_proxies))
            app.state.basic_realm = s.server.basic_realm

        supervisor = Supervisor(settings, config_path, clock, random, install, metrics.registry)
        app.state.supervisor = supervisor
        first = await supervisor.prepare()
        # Everything built so far lives as long as the process: keep it out of the cyclic
        # collector's generations so collections on the hot path stay small.
        gc.freeze()
        try:
            async with anyio.create_task_group() as tasks:
                try:
                    await supervisor.start(tasks, first)
                    yield
                finally:
                    tasks.cancel_scope.cancel()
        finally:
            # Only once every background task has ended: a database write it was
            # finishing (shielded) must not find the engine disposed under it.
            with anyio.CancelScope(shield=True):
                await supervisor.close()

    routes: list[BaseRoute] = [
        Route("/token", token_endpoint, methods=["GET", "POST"]),
        Route("/.well-known/jwks.json", jwks, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route(REGISTRY_PATH, registry_notifications, methods=["POST"]),
        Route(APPROVAL_PATH, approval_response, methods=["POST"]),
        *ui_routes(settings),
    ]
    if not settings.server.metrics_listen:  # else served off the public port by `serve`
        routes.append(Route("/metrics", metrics_endpoint, methods=["GET"]))
    if role == "admin":
        routes = [Route("/healthz", healthz, methods=["GET"])]
    routes += api_routes(clock, random, role)
    handlers = {
        ProblemError: handle_problem,
        HTTPException: handle_http,
        Exception: handle_unexpected,
    }
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers)
    # No "/token/" → "/token" redirect: it rebuilds the URL from raw bytes (a 500 on bad
    # UTF-8 in the query) and no client needs it.
    app.router.redirect_slashes = False
    return app


async def jwks(request: Request) -> Response:
    state: AppState = request.app.state.regauth
    headers = {"Cache-Control": "public, max-age=60"}
    return Response(state.jwks_body(), 200, headers, "application/jwk-set+json")


async def metrics_endpoint(request: Request) -> Response:
    """``/metrics``; with ``server.metrics_auth = "admin"`` only for an admin API key."""
    state: AppState = request.app.state.regauth
    if state.runtime.settings.server.metrics_auth == "admin":
        await require_admin(state, request)
    return await state.metrics.endpoint(request)


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    state: AppState = request.app.state.regauth
    checks: dict[str, str] = {"keys": state.runtime.keys.keyring.current.key_id and "ok"}
    try:
        with anyio.fail_after(2):
            await state.runtime.db.ping()
        checks["database"] = "ok"
    except Exception:  # the reason goes to the log, not to the caller
        log.exception("readiness: database check failed")
        checks["database"] = "failed"
    oidc = state.runtime.oidc
    for name, healthy in (oidc.health() if oidc is not None else {}).items():
        checks[f"jwks:{name}"] = "ok" if healthy else "failed"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ok" if ready else "failed", "checks": checks}, 200 if ready else 503
    )


def create_asgi(
    settings: Settings,
    *,
    clock: Clock | None = None,
    random: Random | None = None,
    config_path: Path | None = None,
) -> TokenFastPath:
    """The application as served: ``/token`` on its fast path, the rest through Starlette."""
    app = create_app(settings, clock=clock, random=random, config_path=config_path)
    return TokenFastPath(app)


def app_from_environment() -> TokenFastPath:
    """Server factory target (one call per worker): configuration from ``$REGAUTH_CONFIG``."""
    path = find_config_path(None, os.environ)
    settings = load_with_fallback(path, os.environ)
    logs.configure(settings.log.level)
    return create_asgi(settings, config_path=path)


def admin_app_from_environment() -> Starlette:
    """Server factory target of the admin listener (``admin.listen``)."""
    path = find_config_path(None, os.environ)
    settings = load_with_fallback(path, os.environ)
    logs.configure(settings.log.level)
    return create_app(settings, config_path=path, role="admin")
