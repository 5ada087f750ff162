"""Use cases on the signing keys: show, rotate, the JWKS and the registry's bundle.

The keys live in the key directory (``keys.dir``), not in the database: these
use cases take the :class:`~regauth.keys.KeyStore` and do its file work in a
worker thread. A rotation is recorded in the ``changes`` table like any other
change (which key was current before and after); running servers pick the
new key up within ``keys.reload_interval`` seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio

from regauth.admin.actor import Actor, Permission
from regauth.admin.uow import Change, UnitOfWork
from regauth.keys import KeyStore
from regauth.keys.keyring import Jwk, Keyring, SigningKey
from regauth.keys.kid import KidMode


@dataclass(frozen=True, slots=True)
class KeyPolicy:
    """How keys are made and named here (from ``[keys]`` and the token lifetime)."""

    kid_mode: KidMode
    leaf_days: int
    grace: timedelta  # a retired key verifies this long (its last token's lifetime + leeway)


@dataclass(frozen=True, slots=True)
class KeyView:
    key_id: str
    alg: str
    kid: str
    created_at: datetime
    certificate_not_after: datetime
    verifies_until: datetime | None  # None for the current key


@dataclass(frozen=True, slots=True)
class KeysView:
    current: KeyView
    previous: tuple[KeyView, ...]
    ca_subject: str | None
    ca_not_after: datetime | None


async def show_keys(actor: Actor, keys: KeyStore, policy: KeyPolicy) -> KeysView:
    actor.require(Permission.KEYS_READ)
    return _view(await _load(keys, policy))


async def rotate_keys(uow: UnitOfWork, actor: Actor, keys: KeyStore, policy: KeyPolicy) -> KeysView:
    """A new current key; the old one keeps verifying for ``policy.grace``."""
    actor.require(Permission.KEYS_WRITE)
    before = _view(await _load(keys, policy))
    await anyio.to_thread.run_sync(lambda: keys.rotate(grace=policy.grace, days=policy.leaf_days))
    after = _view(await _load(keys, policy))
    snapshot = {"current": before.current.key_id}
    uow.record(Change(actor, "keys:rotate", after.current.key_id, snapshot, _snapshot(after)))
    await uow.commit()
    return after


async def jwks(actor: Actor, keys: KeyStore, policy: KeyPolicy) -> dict[str, list[Jwk]]:
    """The JWK Set of the verifying keys (what ``/.well-known/jwks.json`` publishes)."""
    actor.require(Permission.KEYS_READ)
    return (await _load(keys, policy)).jwks()


async def registry_bundle(actor: Actor, keys: KeyStore, policy: KeyPolicy) -> bytes:
    """The registry's ``rootcertbundle`` (PEM): the CA, or the valid self-signed leaves."""
    actor.require(Permission.KEYS_READ)
    return (await _load(keys, policy)).bundle_pem()


async def _load(keys: KeyStore, policy: KeyPolicy) -> Keyring:
    return await anyio.to_thread.run_sync(keys.load, policy.kid_mode)


def _view(keyring: Keyring) -> KeysView:
    ca = keyring.ca
    return KeysView(
        current=_key(keyring.current),
        previous=tuple(_key(k) for k in keyring.previous),
        ca_subject=ca.subject.rfc4514_string() if ca is not None else None,
        ca_not_after=ca.not_valid_after_utc if ca is not None else None,
    )


def _key(key: SigningKey) -> KeyView:
    return KeyView(
        key_id=key.key_id,
        alg=key.alg.value,
        kid=key.kid,
        created_at=key.created_at,
        certificate_not_after=key.certificate.not_valid_after_utc,
        verifies_until=key.valid_until,
    )


def _snapshot(view: KeysView) -> dict[str, object]:
    return {"current": view.current.key_id, "previous": [k.key_id for k in view.previous]}
