"""``my_access``: the rules that apply to an account, global first, ${account} filled in."""

from __future__ import annotations

import pytest

from regauth.admin import Actor, Permission, UnitOfWork
from regauth.admin.access import MyAccess, my_access
from regauth.admin.rules import AddRule, RulesContext, add_rule
from regauth.authz.config_rules import compile_rules
from regauth.config.rules import RuleSettings
from regauth.errors import AdminForbidden
from regauth.store import Database, UserStore
from tests.store.conftest import FrozenClock

pytestmark = pytest.mark.anyio

GLOBAL = compile_rules(
    [
        RuleSettings(account="*", name="${account}/**", actions=("pull", "push")),
        RuleSettings(group="ops", name="ops/**", actions=("pull",)),
        RuleSettings(anonymous=True, name="public/**", actions=("pull",)),
        RuleSettings(account="bob", name="bob-only/**", actions=("pull",)),
    ]
)


async def test_own_rules_in_evaluation_order(
    db: Database, clock: FrozenClock, console: Actor
) -> None:
    await UserStore(db, clock).add("alice", None, groups=("dev",))
    async with UnitOfWork(db, clock) as uow:
        await add_rule(uow, console, AddRule(name="team/**", actions=("pull",), group="dev"))
    async with UnitOfWork(db, clock) as uow:
        await add_rule(uow, console, AddRule(name="secret/**", actions=(), user="alice", deny=True))
    alice = Actor("user", "alice")
    async with UnitOfWork(db, clock) as uow:
        view = await my_access(uow, alice, MyAccess("alice"), RulesContext(GLOBAL))
    shown = [(line.list, line.repositories, line.actions) for line in view.lines]
    assert shown == [
        ("global rules", "alice/**", ("pull", "push")),
        ("user alice", "secret/**", ()),
        ("group dev", "team/**", ("pull",)),
    ]


async def test_groups_from_the_identity_provider_count_for_external_accounts(
    db: Database, clock: FrozenClock
) -> None:
    carol = Actor("oidc", "carol")
    async with UnitOfWork(db, clock) as uow:
        view = await my_access(uow, carol, MyAccess("carol", ("ops",)), RulesContext(GLOBAL))
    assert [line.repositories for line in view.lines] == ["carol/**", "ops/**"]


async def test_someone_else_needs_rules_read(db: Database, clock: FrozenClock) -> None:
    await UserStore(db, clock).add("alice", None)
    async with UnitOfWork(db, clock) as uow:
        with pytest.raises(AdminForbidden):
            await my_access(uow, Actor("user", "bob"), MyAccess("alice"), RulesContext(GLOBAL))
    reader = Actor("user", "bob", permissions=frozenset({Permission.RULES_READ}))
    async with UnitOfWork(db, clock) as uow:
        view = await my_access(uow, reader, MyAccess("alice"), RulesContext(GLOBAL))
    assert [line.repositories for line in view.lines] == ["alice/**"]
