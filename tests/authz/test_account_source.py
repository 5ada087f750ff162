"""Database rules: cached per (user, groups), compiled and indexed once per fill."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

from regauth.authz.account_source import DatabaseRules
from regauth.domain.principal import ANONYMOUS, Principal
from regauth.domain.rules import RuleIndex
from regauth.store import Database, RuleRecord, RuleSpec, RuleStore, UserStore
from tests.conftest import FrozenClock


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def db(tmp_path: Path) -> Database:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    database = Database(url)
    database.migrate()
    return database


class CountingStore(RuleStore):
    loads = 0

    async def for_principal(
        self, user: str | None, groups: Iterable[str]
    ) -> tuple[list[RuleRecord], dict[str, list[RuleRecord]]]:
        self.loads += 1
        return await super().for_principal(user, groups)


@pytest.mark.anyio
async def test_rules_are_cached_per_user_and_groups_and_compiled_once(db: Database) -> None:
    clock = FrozenClock()
    try:
        users, store = UserStore(db, clock), CountingStore(db, clock)
        await users.add("alice", None, groups=("dev",))
        await users.add("bob", None, groups=("dev",))
        await store.add(user="alice", spec=RuleSpec("alice/**", ("pull", "push")))
        source = DatabaseRules(store, clock, ttl=1.0)
        alice, bob = Principal("alice", "local", frozenset({"dev"})), Principal("bob", "local")
        own, groups = await source.rules_for(alice)
        assert [r.rule_id for r in own] == ["user:alice#1"] and groups == ()
        await store.add(group="dev", spec=RuleSpec("team/**", ("pull",)))
        again = await source.rules_for(alice)
        assert again[0] is own and again[1] == () and store.loads == 1  # a hit: nothing rebuilt
        clock.advance(seconds=1.01)
        own2, groups2 = await source.rules_for(alice)
        assert store.loads == 2 and own2 is own  # same records: the same compiled index
        ((name, dev),) = groups2
        assert (
            name == "dev"
            and isinstance(dev, RuleIndex)
            and [r.rule_id for r in dev] == ["group:dev#2"]
        )
        bob_dev = Principal("bob", "local", frozenset({"dev"}))
        assert (await source.rules_for(bob_dev))[1][0][1] is dev  # shared between members
        assert await source.rules_for(bob) == ((), ())
        assert await source.rules_for(ANONYMOUS) == ((), ()) and store.loads == 4
    finally:
        await db.dispose()
