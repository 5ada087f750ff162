"""TokenStore against a migrated SQLite file."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest

from regauth.store import Conflict, NotFound, TokenRecord, TokenStore, UserStore
from tests.store.conftest import START, FrozenClock

pytestmark = pytest.mark.anyio

HASH_A = "a" * 64
HASH_B = "b" * 64
HASH_C = "c" * 64


async def _pat(tokens: TokenStore, token_id: str, secret_hash: str, **kw: str) -> TokenRecord:
    return await tokens.create(
        token_id=token_id,
        user_name=kw.pop("user", "alice"),
        kind=kw.pop("kind", "pat"),
        secret_hash=secret_hash,
        expires_at=START + timedelta(days=30),
        **kw,
    )


@pytest.fixture
async def owners(users: UserStore) -> None:
    await users.add("alice", "h")
    await users.add("bob", "h")


@pytest.mark.usefixtures("owners")
async def test_create_and_find_by_hash(tokens: TokenStore) -> None:
    created = await _pat(tokens, "0123456789ab", HASH_A, name="laptop", rules_json='[{"a": 1}]')
    found = await tokens.find_by_hash(HASH_A)
    assert found is not None
    assert found == created
    assert found.id == "0123456789ab"
    assert found.user_name == "alice"
    assert found.kind == "pat"
    assert found.name == "laptop"
    assert found.client_id == ""
    assert found.rules_json == '[{"a": 1}]'
    assert found.created_at == START
    assert found.expires_at == START + timedelta(days=30)
    assert found.expires_at.tzinfo == UTC
    assert found.revoked_at is None
    assert found.last_used_at is None
    assert not found.user_disabled


@pytest.mark.usefixtures("owners")
async def test_unknown_hash_is_none(tokens: TokenStore) -> None:
    assert await tokens.find_by_hash(HASH_A) is None


@pytest.mark.usefixtures("owners")
async def test_find_by_hash_carries_user_disabled(tokens: TokenStore, users: UserStore) -> None:
    await _pat(tokens, "t1", HASH_A)
    await users.set_disabled("alice", True)
    found = await tokens.find_by_hash(HASH_A)
    assert found is not None
    assert found.user_disabled


@pytest.mark.usefixtures("owners")
async def test_create_for_unknown_user_is_not_found(tokens: TokenStore) -> None:
    with pytest.raises(NotFound, match="ghost"):
        await _pat(tokens, "t1", HASH_A, user="ghost")


@pytest.mark.usefixtures("owners")
async def test_duplicate_id_or_hash_is_conflict(tokens: TokenStore) -> None:
    await _pat(tokens, "t1", HASH_A)
    with pytest.raises(Conflict, match="t2") as caught:
        await _pat(tokens, "t2", HASH_A)
    assert HASH_A not in str(caught.value)
    with pytest.raises(Conflict, match="t1"):
        await _pat(tokens, "t1", HASH_B)


@pytest.mark.usefixtures("owners")
async def test_unknown_kind_is_rejected(tokens: TokenStore) -> None:
    with pytest.raises(ValueError, match="kind"):
        await _pat(tokens, "t1", HASH_A, kind="session")


@pytest.mark.usefixtures("owners")
async def test_revoke(tokens: TokenStore, clock: FrozenClock) -> None:
    await _pat(tokens, "t1", HASH_A)
    clock.advance(60)
    assert await tokens.revoke("t1")
    assert not await tokens.revoke("t1")
    assert not await tokens.revoke("nope")
    found = await tokens.find_by_hash(HASH_A)
    assert found is not None
    assert found.revoked_at == START + timedelta(seconds=60)


@pytest.mark.usefixtures("owners")
async def test_revoke_all(tokens: TokenStore) -> None:
    await _pat(tokens, "t1", HASH_A)
    await _pat(tokens, "t2", HASH_B, kind="refresh", client_id="docker")
    await _pat(tokens, "t3", HASH_C, user="bob")
    assert await tokens.revoke_all("alice", kind="refresh") == 1
    assert await tokens.revoke_all("alice") == 1
    assert await tokens.revoke_all("alice") == 0
    revoked = {t.id: t.revoked_at is not None for t in await tokens.list()}
    assert revoked == {"t1": True, "t2": True, "t3": False}
    with pytest.raises(NotFound, match="ghost"):
        await tokens.revoke_all("ghost")


@pytest.mark.usefixtures("owners")
async def test_list_filters_and_order(tokens: TokenStore, clock: FrozenClock) -> None:
    await _pat(tokens, "t2", HASH_A)
    clock.advance(1)
    await _pat(tokens, "t1", HASH_B, kind="refresh")
    clock.advance(1)
    await _pat(tokens, "t3", HASH_C, user="bob")
    assert [t.id for t in await tokens.list()] == ["t2", "t1", "t3"]
    assert [t.id for t in await tokens.list(user_name="alice")] == ["t2", "t1"]
    assert [t.id for t in await tokens.list(kind="pat")] == ["t2", "t3"]
    assert [t.id for t in await tokens.list(user_name="alice", kind="refresh")] == ["t1"]
    assert await tokens.list(user_name="ghost") == []


@pytest.mark.usefixtures("owners")
async def test_touch(tokens: TokenStore, clock: FrozenClock) -> None:
    await _pat(tokens, "t1", HASH_A)
    clock.advance(90)
    await tokens.touch("t1", addr="2001:db8::1")
    await tokens.touch("unknown", addr=None)
    found = await tokens.find_by_hash(HASH_A)
    assert found is not None
    assert found.last_used_at == START + timedelta(seconds=90)
    clock.advance(10)
    tokens.record_use("t1", addr="192.0.2.1")
    tokens.record_use("t1", addr="192.0.2.2")  # only the newest use is written
    assert (await tokens.find_by_hash(HASH_A)).last_used_addr == "2001:db8::1"  # type: ignore[union-attr]
    assert await tokens.flush_uses() == 1
    assert await tokens.flush_uses() == 0
    found = await tokens.find_by_hash(HASH_A)
    assert found is not None
    assert found.last_used_addr == "192.0.2.2"
    clock.advance(-10)
    await tokens.touch("t1", addr="2001:db8::1")
    found = await tokens.find_by_hash(HASH_A)
    assert found is not None
    assert found.last_used_at == START + timedelta(seconds=90)
    assert found.last_used_at.tzinfo == UTC
    assert found.last_used_addr == "2001:db8::1"
