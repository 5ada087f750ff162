"""The web UI under ``/ui``: server-rendered pages over the administration layer.

Pages render Jinja2 templates from ``web/templates`` (``base.html``,
``_``-partials, a folder per noun) with our own stylesheet and one small
script, all served from ``/ui/static``; everything works without JavaScript.
Every state change is a POST with the session's CSRF token, answered by a 303.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from regauth.errors import PageNotFound
from regauth.web.ui import (
    access,
    admin_audit,
    admin_check,
    admin_groups,
    admin_keys,
    admin_rules,
    admin_users,
    oidc,
    password,
    requests,
    setup,
    signin,
    tokens,
)
from regauth.web.ui.endpoint import Page, public_endpoint, refuse_cross_site, ui_endpoint
from regauth.web.ui.guard import UiGuard
from regauth.web.ui.home import home
from regauth.web.ui.render import STATIC
from regauth.web.ui.visit import Visit


def routes() -> list[BaseRoute]:
    return [
        Route("/", ui_endpoint(home), methods=["GET"]),
        Route("/signin", public_endpoint(signin.signin_form), methods=["GET"]),
        Route("/signin", public_endpoint(signin.signin), methods=["POST"]),
        Route("/signout", ui_endpoint(signin.signout), methods=["POST"]),
        Route("/access", ui_endpoint(access.access), methods=["GET"]),
        Route("/setup", ui_endpoint(setup.setup), methods=["GET"]),
        Route("/requests", ui_endpoint(requests.requests), methods=["GET"]),
        Route("/requests", ui_endpoint(requests.new_request), methods=["POST"]),
        Route(
            "/requests/{request_id:int}/withdraw",
            ui_endpoint(requests.withdraw),
            methods=["POST"],
        ),
        Route("/password", ui_endpoint(password.form), methods=["GET"]),
        Route("/password", ui_endpoint(password.change), methods=["POST"]),
        Route("/admin", ui_endpoint(_to_admin), methods=["GET"]),
        Route("/tokens", ui_endpoint(tokens.new_token), methods=["POST"]),
        Route("/tokens/{token_id}/revoke", ui_endpoint(tokens.revoke), methods=["POST"]),
        *admin_routes(),
        Route("/oidc/start", public_endpoint(oidc.start), methods=["GET"]),
        Route("/oidc/callback", public_endpoint(oidc.callback), methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        Route("/{rest:path}", ui_endpoint(not_found)),
    ]


def admin_routes() -> list[BaseRoute]:
    def get(path: str, handler: Page) -> Route:
        return Route(f"/admin{path}", ui_endpoint(handler), methods=["GET"])

    def post(path: str, handler: Page) -> Route:
        return Route(f"/admin{path}", ui_endpoint(handler), methods=["POST"])

    return [
        get("/users", admin_users.users_page),
        post("/users", admin_users.add),
        post("/users/{name}/remove", admin_users.remove),
        post("/users/{name}/unlock", admin_users.unlock),
        post("/users/{name}/update", admin_users.update),
        get("/groups", admin_groups.groups),
        post("/groups", admin_groups.add),
        post("/groups/{name}/remove", admin_groups.remove),
        post("/groups/{name}/members", admin_groups.member),
        get("/rules", admin_rules.rules),
        post("/rules", admin_rules.add),
        post("/rules/{rule_id:int}/move", admin_rules.move),
        post("/rules/{rule_id:int}/remove", admin_rules.remove),
        get("/check", admin_check.check),
        get("/keys", admin_keys.keys),
        post("/keys/rotate", admin_keys.rotate),
        get("/keys/registry-bundle.pem", admin_keys.bundle),
        get("/keys/jwks.json", admin_keys.jwks),
        get("/audit", admin_audit.audit),
        get("/access", requests.admin_access),
        post("/access/{request_id:int}", requests.admin_decide),
    ]


async def not_found(request: Request, visit: Visit) -> Response:
    """Inside the mount, so that a 404 also gets the UI's security headers (and a
    signed-out browser is sent to sign in, as for every other page)."""
    raise PageNotFound("there is no such page")


def ui_app() -> ASGIApp:
    """Everything under ``/ui``, behind the security headers and the origin check
    (mounted at ``/ui`` by :mod:`regauth.web.lazy`)."""
    return UiGuard(Router(routes=routes()), refuse=refuse_cross_site)


async def _to_admin(request: Request, visit: Visit) -> Response:
    return RedirectResponse("/ui/admin/users", 303)
