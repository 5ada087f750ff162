"""Admin → Keys: the current and previous signing keys, rotation, bundle and JWKS downloads."""

from __future__ import annotations

import json

import anyio
from starlette.requests import Request
from starlette.responses import Response

from regauth.admin import keys as uc
from regauth.keys import KeyStore
from regauth.runtime import key_store, retire_grace
from regauth.web.state import AppState
from regauth.web.ui import session as sessions
from regauth.web.ui.endpoint import read_form
from regauth.web.ui.render import page, see_other
from regauth.web.ui.visit import Visit, unit_of_work


def _store(request: Request) -> tuple[KeyStore, uc.KeyPolicy]:
    state: AppState = request.app.state.regauth
    settings = state.runtime.settings
    policy = uc.KeyPolicy(settings.keys.kid, settings.keys.leaf_days, retire_grace(settings))
    return key_store(settings, sessions.services(request).clock), policy


async def keys(request: Request, visit: Visit) -> Response:
    view = await uc.show_keys(visit.actor, *_store(request))
    state: AppState = request.app.state.regauth
    return page(
        request,
        "admin/keys.html",
        visit,
        view=view,
        stable_ca=state.runtime.settings.keys.stable_ca,
    )


async def rotate(request: Request, visit: Visit) -> Response:
    await read_form(request, visit)
    store, policy = _store(request)
    async with unit_of_work(request) as uow:
        await uc.rotate_keys(uow, visit.actor, store, policy)
    state: AppState = request.app.state.regauth
    await anyio.to_thread.run_sync(state.runtime.keys.refresh)  # sign with it at once here
    return see_other("/ui/admin/keys?notice=rotated")


async def bundle(request: Request, visit: Visit) -> Response:
    pem = await uc.registry_bundle(visit.actor, *_store(request))
    disposition = {"Content-Disposition": 'attachment; filename="registry-bundle.pem"'}
    return Response(pem, 200, disposition, "application/x-pem-file")


async def jwks(request: Request, visit: Visit) -> Response:
    body = await uc.jwks(visit.actor, *_store(request))
    disposition = {"Content-Disposition": 'attachment; filename="jwks.json"'}
    return Response(json.dumps(body, indent=2), 200, disposition, "application/jwk-set+json")
