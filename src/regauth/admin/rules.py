"""Use cases on account rules: add, list (per ordered list), move, remove, lint.

A user's own rules and each group's rules are ordered lists stored in the
database; the global rules come from the configuration file and are passed
in (``config_rules``, compiled). ``position`` is 1-based within one list,
exactly as ``add --position`` and ``move`` count it. :func:`lint_rules` is
the library entry point of the rule lint (the CLI and the admin API call it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from regauth.admin.actor import Actor, Permission
from regauth.admin.uow import Change, UnitOfWork
from regauth.admin.validation import action_problem, name_problem, require, rule_problems
from regauth.authz.account_source import compile_record
from regauth.domain.lint import Finding, RuleList, lint
from regauth.domain.rules import Rule
from regauth.errors import AdminInvalid, AdminNotFound
from regauth.store import RuleRecord, RuleSpec


@dataclass(frozen=True, slots=True)
class AddRule:
    """Exactly one of ``user`` / ``group``. No actions is refused unless ``deny``."""

    name: str
    actions: tuple[str, ...] = ()
    user: str | None = None
    group: str | None = None
    type: str = "repository"
    services: tuple[str, ...] = ()
    client_cidrs: tuple[str, ...] = ()
    comment: str = ""
    deny: bool = False
    position: int | None = None


@dataclass(frozen=True, slots=True)
class MoveRule:
    rule_id: int
    position: int


@dataclass(frozen=True, slots=True)
class RemoveRule:
    rule_id: int


@dataclass(frozen=True, slots=True)
class RulesContext:
    """What the database does not hold: the global rules and the served services."""

    config_rules: tuple[Rule, ...] = ()
    services: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class RuleView:
    id: int
    list: str  # "user alice" | "group devs"
    position: int
    type: str
    name: str
    actions: tuple[str, ...]
    services: tuple[str, ...]
    client_cidrs: tuple[str, ...]
    comment: str


@dataclass(frozen=True, slots=True)
class RuleAdded:
    rule: RuleView
    findings: tuple[Finding, ...]  # lint of the list it joined (warnings, not refusals)


async def add_rule(
    uow: UnitOfWork, actor: Actor, cmd: AddRule, ctx: RulesContext = RulesContext()
) -> RuleAdded:
    actor.require(Permission.RULES_WRITE)
    _validate(cmd)
    spec = RuleSpec(cmd.name, cmd.actions, cmd.type, cmd.services, cmd.client_cidrs, cmd.comment)
    record = await uow.rules.add(user=cmd.user, group=cmd.group, spec=spec, position=cmd.position)
    view = _view(record)
    uow.record(Change(actor, "rule:add", _subject(view), None, _snapshot(view)))
    await uow.commit()
    findings = await _lint(uow, ctx, user=cmd.user, group=cmd.group)
    mine = tuple(f for f in findings if f.rule.startswith(f"{record.owner_kind}:{record.owner}#"))
    return RuleAdded(view, mine)


async def move_rule(uow: UnitOfWork, actor: Actor, cmd: MoveRule) -> RuleView:
    actor.require(Permission.RULES_WRITE)
    require({"position": None if cmd.position >= 1 else "positions start at 1"})
    before = await _get(uow, cmd.rule_id)
    view = _view(await uow.rules.move(cmd.rule_id, cmd.position))
    uow.record(Change(actor, "rule:move", _subject(view), _snapshot(before), _snapshot(view)))
    await uow.commit()
    return view


async def remove_rule(uow: UnitOfWork, actor: Actor, cmd: RemoveRule) -> RuleView:
    actor.require(Permission.RULES_WRITE)
    before = await _get(uow, cmd.rule_id)
    await uow.rules.remove(cmd.rule_id)
    uow.record(Change(actor, "rule:remove", _subject(before), _snapshot(before), None))
    await uow.commit()
    return before


async def list_rules(
    uow: UnitOfWork, actor: Actor, *, user: str | None = None, group: str | None = None
) -> tuple[RuleView, ...]:
    """Rules of one owner, or all: users' lists, then groups' lists, each in position order."""
    actor.require(Permission.RULES_READ)
    return tuple(_view(r) for r in await uow.rules.list(user=user, group=group))


async def lint_rules(
    uow: UnitOfWork,
    actor: Actor,
    ctx: RulesContext = RulesContext(),
    *,
    user: str | None = None,
    group: str | None = None,
) -> tuple[Finding, ...]:
    """Lint every list (or the lists of one user / group) plus the global rules."""
    actor.require(Permission.RULES_READ)
    return await _lint(uow, ctx, user=user, group=group)


async def _lint(
    uow: UnitOfWork, ctx: RulesContext, *, user: str | None, group: str | None
) -> tuple[Finding, ...]:
    records = await uow.rules.list(user=user, group=group)
    lists: dict[tuple[str, str], list[Rule]] = {}
    for record in records:
        lists.setdefault((record.owner_kind, record.owner), []).append(compile_record(record))
    rule_lists = [RuleList(k, o, tuple(rules)) for (k, o), rules in lists.items()]
    rule_lists.append(RuleList("global", "", ctx.config_rules))
    known = frozenset(name for name, _ in await uow.groups.list())
    return lint(
        rule_lists, known_groups=known, services=ctx.services, action_problem=action_problem
    )


def _validate(cmd: AddRule) -> None:
    if (cmd.user is None) == (cmd.group is None):
        raise AdminInvalid({"owner": "give exactly one of user or group"})
    owner = "user" if cmd.user is not None else "group"
    problems: dict[str, str | None] = {owner: name_problem(cmd.user or cmd.group or "")}
    problems |= rule_problems(
        name=cmd.name,
        actions=cmd.actions,
        rtype=cmd.type,
        deny=cmd.deny,
        client_cidrs=cmd.client_cidrs,
    )
    if cmd.position is not None and cmd.position < 1:
        problems["position"] = "positions start at 1"
    require(problems)


async def _get(uow: UnitOfWork, rule_id: int) -> RuleView:
    for record in await uow.rules.list():
        if record.id == rule_id:
            return _view(record)
    raise AdminNotFound(f"rule {rule_id} not found")


def _view(record: RuleRecord) -> RuleView:
    return RuleView(
        id=record.id,
        list=f"{record.owner_kind} {record.owner}",
        position=record.position,
        type=record.type,
        name=record.name,
        actions=record.actions,
        services=record.services,
        client_cidrs=record.client_cidrs,
        comment=record.comment,
    )


def _subject(view: RuleView) -> str:
    return f"{view.list.replace(' ', ':')}#{view.id}"


def _snapshot(view: RuleView) -> dict[str, object]:
    return asdict(view)
