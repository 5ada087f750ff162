"""``/api/v1/keys``: current and previous signing keys, rotation, JWKS, the registry bundle."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import anyio

from regauth.admin import Permission
from regauth.admin import keys as uc
from regauth.keys import KeyStore
from regauth.runtime import key_store, retire_grace
from regauth.web.api.dispatch import Call
from regauth.web.api.models import Out
from regauth.web.api.table import Operation, Raw

PEM = "application/x-pem-file"


class KeyOut(Out):
    key_id: str
    alg: str
    kid: str
    created_at: datetime
    certificate_not_after: datetime
    verifies_until: datetime | None


class KeysOut(Out):
    current: KeyOut
    previous: list[KeyOut]
    ca_subject: str | None
    ca_not_after: datetime | None


class JwksOut(Out):
    keys: list[dict[str, Any]]


def _store(call: Call) -> tuple[KeyStore, uc.KeyPolicy]:
    settings = call.state.runtime.settings
    policy = uc.KeyPolicy(settings.keys.kid, settings.keys.leaf_days, retire_grace(settings))
    return key_store(settings, call.env.clock), policy


async def show(call: Call) -> KeysOut:
    return KeysOut.model_validate(await uc.show_keys(call.actor, *_store(call)))


async def rotate(call: Call) -> KeysOut:
    store, policy = _store(call)
    async with call.uow() as uow:
        view = await uc.rotate_keys(uow, call.actor, store, policy)
    await anyio.to_thread.run_sync(call.state.runtime.keys.refresh)  # sign with it at once here
    return KeysOut.model_validate(view)


async def jwks(call: Call) -> JwksOut:
    return JwksOut.model_validate(await uc.jwks(call.actor, *_store(call)))


async def bundle(call: Call) -> Raw:
    pem = await uc.registry_bundle(call.actor, *_store(call))
    return Raw(pem, PEM, "registry-bundle.pem")


OPERATIONS = (
    Operation(
        "GET", "/keys", "showKeys", "The current and the still-verifying signing keys", "keys",
        show, Permission.KEYS_READ, out=KeysOut,
    ),
    Operation(
        "POST", "/keys/rotate", "rotateKeys", "Replace the signing key", "keys",
        rotate, Permission.KEYS_WRITE, out=KeysOut,
        description="The previous key keeps verifying until every token it signed has expired. "
        "Without a stable CA, re-download the registry bundle and restart the registry.",
    ),
    Operation(
        "GET", "/keys/jwks", "getJwks", "The JWK Set of the verifying keys", "keys",
        jwks, Permission.KEYS_READ, out=JwksOut,
    ),
    Operation(
        "GET", "/keys/bundle", "getRegistryBundle", "The registry's rootcertbundle (PEM)", "keys",
        bundle, Permission.KEYS_READ, raw=PEM,
    ),
)  # fmt: skip
