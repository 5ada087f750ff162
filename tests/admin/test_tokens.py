"""Token use cases: who may act on whose tokens, validation, the change record, no secrets."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from regauth.admin import Actor, Permission, UnitOfWork
from regauth.admin.tokens import (
    CreateToken,
    ListTokens,
    RevokeToken,
    create_token,
    list_tokens,
    revoke_token,
)
from regauth.admin.users import AddUser, add_user
from regauth.errors import AdminForbidden, AdminInvalid, AdminNotFound
from regauth.ports import SystemRandom
from regauth.store import Database
from regauth.store.models_admin import ChangeRow
from tests.store.conftest import FrozenClock

pytestmark = pytest.mark.anyio
ALICE = Actor("user", "alice", "10.0.0.1")
BOB = Actor("user", "bob", "10.0.0.2")
KEY = Actor("apikey", "alice", "10.0.0.3")  # an API key named like a user is not that user
RANDOM = SystemRandom()


async def _users(db: Database, clock: FrozenClock, console: Actor) -> None:
    async with UnitOfWork(db, clock) as uow:
        await add_user(uow, console, AddUser("alice", "x"))
    async with UnitOfWork(db, clock) as uow:
        await add_user(uow, console, AddUser("bob", "x"))


async def test_self_service_and_admin(db: Database, clock: FrozenClock, console: Actor) -> None:
    await _users(db, clock, console)
    async with UnitOfWork(db, clock) as uow:
        created = await create_token(uow, ALICE, CreateToken("alice", "laptop"), random=RANDOM)
    assert created.secret.startswith("regauth_pat_") and "regauth_pat_" not in repr(created)
    assert created.token.expires_at == clock.now() + timedelta(days=90)
    async with UnitOfWork(db, clock) as uow:
        with pytest.raises(AdminForbidden):
            await create_token(uow, BOB, CreateToken("alice"), random=RANDOM)
    async with UnitOfWork(db, clock) as uow:
        with pytest.raises(AdminForbidden):
            await list_tokens(uow, KEY, ListTokens(user="alice"))
    async with UnitOfWork(db, clock) as uow:
        with pytest.raises(AdminNotFound):
            await revoke_token(uow, BOB, RevokeToken(created.token.id, user="bob"))
    async with UnitOfWork(db, clock) as uow:
        (listed,) = await list_tokens(uow, console, ListTokens(user="alice"))
    assert listed.id == created.token.id
    async with UnitOfWork(db, clock) as uow:
        revoked = await revoke_token(uow, ALICE, RevokeToken(created.token.id, user="alice"))
    assert revoked.revoked_at == clock.now()
    async with UnitOfWork(db, clock) as uow:  # again: nothing changes, nothing recorded
        assert (await revoke_token(uow, console, RevokeToken(created.token.id))) == revoked
    async with db.session() as session:
        rows = (await session.scalars(select(ChangeRow).order_by(ChangeRow.id))).all()
    changes = [(r.actor_kind, r.actor_name, r.actor_address, r.kind) for r in rows[2:]]
    assert changes == [
        ("user", "alice", "10.0.0.1", "token:create"),
        ("user", "alice", "10.0.0.1", "token:revoke"),
    ]
    assert created.secret not in json.dumps([r.after for r in rows])


async def test_validation_names_fields(db: Database, clock: FrozenClock, console: Actor) -> None:
    await _users(db, clock, console)
    cmd = CreateToken(
        "alice",
        name="x" * 101,
        expires_in=timedelta(seconds=5),
        rules=({"name": "a/**", "actions": ["pul"]}, {"account": "bob", "name": "**"}),
    )
    async with UnitOfWork(db, clock) as uow:
        with pytest.raises(AdminInvalid) as caught:
            await create_token(uow, console, cmd, random=RANDOM)
    assert set(caught.value.fields) == {"name", "expires_in", "rules[0]", "rules[1].account"}
    assert "did you mean pull" in caught.value.fields["rules[0]"]


async def test_admin_permission_is_needed_for_others(
    db: Database, clock: FrozenClock, console: Actor
) -> None:
    await _users(db, clock, console)
    reader = Actor("apikey", "ops", "", frozenset({Permission.TOKENS_READ}))
    async with UnitOfWork(db, clock) as uow:
        assert await list_tokens(uow, reader, ListTokens()) == ()
    async with UnitOfWork(db, clock) as uow:
        with pytest.raises(AdminForbidden):
            await create_token(uow, reader, CreateToken("bob"), random=RANDOM)
