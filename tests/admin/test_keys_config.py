"""Key, configuration and rule-version use cases."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from regauth.admin import Actor, Permission, UnitOfWork
from regauth.admin.config import effective_config, reload_config
from regauth.admin.keys import KeyPolicy, jwks, registry_bundle, rotate_keys, show_keys
from regauth.admin.rule_versions import list_version, require_version
from regauth.admin.rules import AddRule, MoveRule, add_rule, move_rule
from regauth.admin.users import AddUser, add_user
from regauth.config import parse_settings
from regauth.errors import AdminConflict, AdminForbidden, AdminInvalid, AdminStale
from regauth.keys import Algorithm, KeyStore
from regauth.store import Database
from regauth.store.models_admin import ChangeRow
from tests.store.conftest import FrozenClock

pytestmark = pytest.mark.anyio
POLICY = KeyPolicy("libtrust", 90, timedelta(minutes=6))
READER = Actor("apikey", "ops", "", frozenset({Permission.KEYS_READ}))


async def test_keys(tmp_path: Path, db: Database, clock: FrozenClock, console: Actor) -> None:
    store = KeyStore(tmp_path / "keys", clock)
    store.create_ca(Algorithm.ES256)
    store.generate(Algorithm.ES256)
    before = await show_keys(READER, store, POLICY)
    assert before.previous == () and before.ca_subject
    assert b"BEGIN CERTIFICATE" in await registry_bundle(READER, store, POLICY)
    assert all("d" not in key for key in (await jwks(READER, store, POLICY))["keys"])
    async with UnitOfWork(db, clock) as uow:
        with pytest.raises(AdminForbidden):
            await rotate_keys(uow, READER, store, POLICY)
    async with UnitOfWork(db, clock) as uow:
        after = await rotate_keys(uow, console, store, POLICY)
    assert [k.key_id for k in after.previous] == [before.current.key_id]
    assert after.previous[0].verifies_until == clock.now() + POLICY.grace
    async with db.session() as session:
        (row,) = (await session.scalars(select(ChangeRow))).all()
    assert row.kind == "keys:rotate" and row.subject == after.current.key_id
    assert "PRIVATE" not in (row.after or "")


async def test_config(tmp_path: Path, db: Database, clock: FrozenClock, console: Actor) -> None:
    text = '[database]\nurl = "postgresql+psycopg://u:pw@db/regauth"\n'
    settings = parse_settings(text, base_dir=tmp_path)
    shown = effective_config(console, settings)
    assert shown["database"]["url"] == "postgresql+psycopg://u:**********@db/regauth"
    with pytest.raises(AdminForbidden):
        effective_config(Actor("user", "alice"), settings)
    path = tmp_path / "regauth.toml"
    path.write_text("[token]\nttl = 1\n")

    async def reload() -> bool:
        return True

    async with UnitOfWork(db, clock) as uow:
        with pytest.raises(AdminInvalid) as caught:
            await reload_config(uow, console, path, reload)
    assert set(caught.value.fields) == {"token.ttl"}
    async with UnitOfWork(db, clock) as uow:
        with pytest.raises(AdminConflict):
            await reload_config(uow, console, None, reload)
    path.write_text("[token]\nttl = 60\n")
    async with UnitOfWork(db, clock) as uow:
        assert (await reload_config(uow, console, path, reload)).reloaded


async def test_rule_versions(db: Database, clock: FrozenClock, console: Actor) -> None:
    async with UnitOfWork(db, clock) as uow:
        await add_user(uow, console, AddUser("alice", "h"))
    ids = []
    for name in ("a/**", "b/**"):
        async with UnitOfWork(db, clock) as uow:
            added = await add_rule(uow, console, AddRule(name, ("pull",), user="alice"))
            ids.append(added.rule.id)
    async with UnitOfWork(db, clock) as uow:
        read = await list_version(uow, user="alice", group=None)
        everything = await list_version(uow, user=None, group=None)
        await require_version(uow, [read], user="alice", group=None)
        await require_version(uow, [everything], user="alice", group=None)
        await require_version(uow, ["*"], user="alice", group=None)
        await move_rule(uow, console, MoveRule(ids[1], 1))
    async with UnitOfWork(db, clock) as uow:
        with pytest.raises(AdminStale):
            await require_version(uow, [read, "other"], user="alice", group=None)
        assert await list_version(uow, user="alice", group=None) != read
