"""Rule use cases: validation, order, the lint library function, the change record."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from regauth.admin import Actor, Permission, UnitOfWork
from regauth.admin.rules import (
    AddRule,
    MoveRule,
    RemoveRule,
    RulesContext,
    add_rule,
    lint_rules,
    list_rules,
    move_rule,
    remove_rule,
)
from regauth.admin.users import AddUser, add_user
from regauth.authz.config_rules import compile_rules
from regauth.config.rules import RuleSettings
from regauth.errors import AdminForbidden, AdminInvalid, AdminNotFound
from regauth.store import Database
from regauth.store.models_admin import ChangeRow
from tests.store.conftest import FrozenClock

pytestmark = pytest.mark.anyio


async def _with_alice(db: Database, clock: FrozenClock, console: Actor) -> None:
    async with UnitOfWork(db, clock) as uow:
        await add_user(uow, console, AddUser("alice", None, ("devs",)))


async def test_add_rule_returns_the_lint_of_its_list(
    db: Database, clock: FrozenClock, console: Actor
) -> None:
    await _with_alice(db, clock, console)
    async with UnitOfWork(db, clock) as uow:
        first = await add_rule(uow, console, AddRule("team/**", ("pull", "push"), user="alice"))
    assert first.findings == ()
    async with UnitOfWork(db, clock) as uow:
        deny = await add_rule(uow, console, AddRule("team/secret/**", deny=True, user="alice"))
    (finding,) = deny.findings
    assert finding.level == "error" and "deny never applies" in finding.message
    assert finding.rule == f"user:alice#{deny.rule.id}"


async def test_lint_rules_covers_database_and_config_rules(
    db: Database, clock: FrozenClock, console: Actor
) -> None:
    await _with_alice(db, clock, console)
    config = compile_rules(
        [
            RuleSettings(name="**", actions=("pull",)),
            RuleSettings(name="x/**", actions=("push",), service=("other",)),
        ]
    )
    ctx = RulesContext(config, frozenset({"reg"}))
    async with UnitOfWork(db, clock) as uow:
        findings = await lint_rules(uow, console, ctx)
    assert [(f.list, f.rule) for f in findings] == [
        ("global rules", "config:2"),
        ("global rules", "config:2"),
    ]
    assert {f.message.split(":")[0] for f in findings} == {"never matches", "unreachable"}
    reader = Actor("user", "auditor", "", frozenset({Permission.RULES_READ}))
    async with UnitOfWork(db, clock) as uow:
        assert await lint_rules(uow, reader, ctx) == findings
        with pytest.raises(AdminForbidden):
            await add_rule(uow, reader, AddRule("x", ("pull",), user="alice"))


async def test_positions_move_and_remove_are_recorded(
    db: Database, clock: FrozenClock, console: Actor
) -> None:
    await _with_alice(db, clock, console)
    async with UnitOfWork(db, clock) as uow:
        a = (await add_rule(uow, console, AddRule("a/**", ("pull",), user="alice"))).rule
    async with UnitOfWork(db, clock) as uow:
        b = (await add_rule(uow, console, AddRule("b/**", ("pull",), user="alice"))).rule
    async with UnitOfWork(db, clock) as uow:
        moved = await move_rule(uow, console, MoveRule(b.id, 1))
    assert moved.position == 1
    async with UnitOfWork(db, clock) as uow:
        assert [(r.name, r.position) for r in await list_rules(uow, console, user="alice")] == [
            ("b/**", 1),
            ("a/**", 2),
        ]
        await remove_rule(uow, console, RemoveRule(a.id))
    async with UnitOfWork(db, clock) as uow:
        with pytest.raises(AdminNotFound):
            await remove_rule(uow, console, RemoveRule(a.id))
    async with db.session() as s:
        rows = (await s.scalars(select(ChangeRow).order_by(ChangeRow.id))).all()
    assert [r.kind for r in rows] == [
        "user:add",
        "rule:add",
        "rule:add",
        "rule:move",
        "rule:remove",
    ]
    move = rows[3]
    assert json.loads(move.before or "")["position"] == 2
    assert json.loads(move.after or "")["position"] == 1
    assert move.subject == f"user:alice#{b.id}"


@pytest.mark.parametrize(
    ("cmd", "fields"),
    [
        (AddRule("x/**", ("pull",)), {"owner"}),
        (AddRule("x/**", ("pull",), user="alice", group="devs"), {"owner"}),
        (AddRule("x/[", ("pul",), user="Alice"), {"user", "name", "actions"}),
        (AddRule("x/**", (), user="alice"), {"actions"}),
        (AddRule("x/**", ("pull",), user="alice", position=0), {"position"}),
        (AddRule("x/**", ("pull",), user="alice", client_cidrs=("nope",)), {"client_cidr"}),
    ],
)
async def test_invalid_rules_name_their_fields(
    uow: UnitOfWork, console: Actor, cmd: AddRule, fields: set[str]
) -> None:
    async with uow:
        with pytest.raises(AdminInvalid) as invalid:
            await add_rule(uow, console, cmd)
    assert set(invalid.value.fields) == fields
