"""``what can I do?``: the rules that may grant (or deny) a caller access, in the order they count.

The lists are the ones the token endpoint evaluates for the caller
(:class:`~regauth.domain.policy.AccountRules`): the global rules of the
configuration that apply to this account and its groups, the account's own
list, then each group's list. ``${account}`` and ``${group}`` are shown
filled in. This answers "which repositories and actions do my rules
grant"; the decision on one scope, stage by stage, is :mod:`regauth.admin.check`.

A local account may ask about itself; any other subject needs ``rules:read``.
For accounts that are not local (LDAP, OIDC) the caller passes the groups
their identity provider reported at sign-in.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from regauth.admin.actor import Actor, Permission
from regauth.admin.rules import RulesContext
from regauth.admin.uow import UnitOfWork
from regauth.authz.account_source import compile_record
from regauth.domain.principal import Principal
from regauth.domain.rules import RequestContext, Rule


@dataclass(frozen=True, slots=True)
class MyAccess:
    user: str
    groups: tuple[str, ...] = ()  # used only when ``user`` is not a local account


@dataclass(frozen=True, slots=True)
class AccessLine:
    """One rule as it applies to the caller; ``actions`` empty means an explicit deny."""

    list: str  # "global rules" | "user alice" | "group dev"
    rule: str
    type: str
    repositories: str
    actions: tuple[str, ...]
    services: tuple[str, ...]
    comment: str


@dataclass(frozen=True, slots=True)
class AccessView:
    user: str
    groups: tuple[str, ...]
    lines: tuple[AccessLine, ...]


async def my_access(uow: UnitOfWork, actor: Actor, cmd: MyAccess, ctx: RulesContext) -> AccessView:
    if not (actor.kind in ("user", "oidc") and actor.name == cmd.user):
        actor.require(Permission.RULES_READ)
    record = await uow.users.get(cmd.user)
    groups = tuple(record.groups) if record is not None else tuple(sorted(set(cmd.groups)))
    principal = Principal(cmd.user, "local", frozenset(groups))
    request = RequestContext(principal, "", None, at=int(uow.clock.now().timestamp()))
    lines = [_line("global rules", r, request) for r in ctx.config_rules if _applies(r, request)]
    own, by_group = await uow.rules.for_principal(cmd.user, frozenset(groups))
    lines += [_line(f"user {cmd.user}", compile_record(r), request) for r in own]
    for group in sorted(by_group):
        lines += [_line(f"group {group}", compile_record(r), request) for r in by_group[group]]
    return AccessView(cmd.user, groups, tuple(lines))


def _applies(rule: Rule, request: RequestContext) -> bool:
    """Who the rule is for; services and client addresses are shown, not judged."""
    if rule.services or rule.networks:
        rule = replace(rule, services=(), networks=())
    return rule.applies_to(request) is not None


def _line(title: str, rule: Rule, request: RequestContext) -> AccessLine:
    group = rule.applies_to(request) if rule.group is not None else None
    shown = rule.name.source.replace("${account}", request.principal.subject)
    shown = shown.replace("${user}", request.principal.subject)
    if group:
        shown = shown.replace("${group}", group)
    return AccessLine(
        list=title,
        rule=rule.label,
        type=rule.type,
        repositories=shown,
        actions=rule.actions,
        services=rule.services,
        comment=rule.comment,
    )
