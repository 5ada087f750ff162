"""``/api/v1/rules``: the ordered rule lists, insert at a position, move, remove, lint.

Every answer about rules carries an ``ETag``: the version of the list it shows
(one user's or group's list, or all of them). A write with ``If-Match`` is
refused with 412 ``admin.stale`` when that list changed since it was read.
"""

from __future__ import annotations

import builtins
from typing import Any

from pydantic import Field

from regauth.admin import Permission
from regauth.admin import rule_versions as versions
from regauth.admin import rules as uc
from regauth.authz.config_rules import compile_rules
from regauth.web.api.dispatch import Call
from regauth.web.api.models import In, Name, NameParam, Out, Params, Query
from regauth.web.api.table import Link, Operation


class RuleIn(In):
    """Exactly one of ``user`` / ``group``; no actions only with ``deny``."""

    user: Name | None = None
    group: Name | None = None
    name: str = Field(max_length=512, description="pattern: `*` one segment, `**` any")
    actions: list[str] = Field(default_factory=list, max_length=16)
    type: str = Field(default="repository", max_length=64)
    service: list[str] = Field(default_factory=list, max_length=16)
    client_cidr: list[str] = Field(default_factory=list, max_length=64)
    comment: str = Field(default="", max_length=500)
    deny: bool = False
    position: int | None = Field(default=None, ge=1, description="1-based; default: the end")


class MoveIn(In):
    position: int = Field(ge=1, le=100_000, description="1-based, within the rule's list")


class RuleOut(Out):
    id: int
    position: int
    type: str
    name: str
    actions: builtins.list[str]  # builtins: the field `list` shadows the name in this class
    services: builtins.list[str]
    client_cidrs: builtins.list[str]
    comment: str
    list: str = Field(description="`user alice` or `group devs`")


class FindingOut(Out):
    level: str
    list: str
    rule: str
    message: str


class RuleAddedOut(Out):
    rule: RuleOut
    findings: list[FindingOut] = Field(description="lint of the list it joined")


class RuleListOut(Out):
    items: list[RuleOut]
    global_rules: list[dict[str, Any]] = Field(
        description="the configuration file's rules (read-only), after every stored list"
    )
    version: str = Field(description="also the ETag; send it back as If-Match")


class LintOut(Out):
    findings: list[FindingOut]


class OwnerQuery(Query):
    user: NameParam | None = None
    group: NameParam | None = None


class RulePath(Params):
    rule_id: int = Field(ge=1, le=2**62)


def _if_match(call: Call) -> list[str] | None:
    header = call.if_match
    if header is None:
        return None
    return [v.strip().removeprefix("W/").strip('"') for v in header.split(",") if v.strip()]


def _etag(call: Call, version: str) -> None:
    call.headers["ETag"] = f'"{version}"'


def _context(call: Call) -> uc.RulesContext:
    settings = call.state.runtime.settings
    return uc.RulesContext(compile_rules(settings.rules), frozenset(settings.token.services))


async def list_rules(call: Call) -> RuleListOut:
    q = call.query(OwnerQuery)
    async with call.uow() as uow:
        views = await uc.list_rules(uow, call.actor, user=q.user, group=q.group)
    version = versions.version(views)
    _etag(call, version)
    config = call.state.runtime.settings.rules
    glob = [r.model_dump(mode="json", exclude_defaults=True) for r in config]
    items = [RuleOut.model_validate(v) for v in views]
    return RuleListOut(items=items, global_rules=glob, version=version)


async def add_rule(call: Call) -> RuleAddedOut:
    body = call.body(RuleIn)
    cmd = uc.AddRule(
        name=body.name,
        actions=tuple(body.actions),
        user=body.user,
        group=body.group,
        type=body.type,
        services=tuple(body.service),
        client_cidrs=tuple(body.client_cidr),
        comment=body.comment,
        deny=body.deny,
        position=body.position,
    )
    async with call.uow() as uow:
        if body.user is not None or body.group is not None:
            expected = _if_match(call)
            await versions.require_version(uow, expected, user=body.user, group=body.group)
        added = await uc.add_rule(uow, call.actor, cmd, _context(call))
    await _etag_of_owner(call, body.user, body.group)
    return RuleAddedOut.model_validate(added)


async def move_rule(call: Call) -> RuleOut:
    rule_id = call.params(RulePath).rule_id
    position = call.body(MoveIn).position
    async with call.uow() as uow:
        user, group = await versions.owner_of(uow, rule_id)
        await versions.require_version(uow, _if_match(call), user=user, group=group)
        view = await uc.move_rule(uow, call.actor, uc.MoveRule(rule_id, position))
    await _etag_of_owner(call, user, group)
    return RuleOut.model_validate(view)


async def remove_rule(call: Call) -> RuleOut:
    rule_id = call.params(RulePath).rule_id
    async with call.uow() as uow:
        user, group = await versions.owner_of(uow, rule_id)
        await versions.require_version(uow, _if_match(call), user=user, group=group)
        view = await uc.remove_rule(uow, call.actor, uc.RemoveRule(rule_id))
    await _etag_of_owner(call, user, group)
    return RuleOut.model_validate(view)


async def lint_rules(call: Call) -> LintOut:
    q = call.query(OwnerQuery)
    async with call.uow() as uow:
        found = await uc.lint_rules(uow, call.actor, _context(call), user=q.user, group=q.group)
    return LintOut(findings=[FindingOut.model_validate(f) for f in found])


async def _etag_of_owner(call: Call, user: str | None, group: str | None) -> None:
    async with call.uow() as uow:
        _etag(call, await versions.list_version(uow, user=user, group=group))


_LINKS = {
    "move": Link("moveRule", {"rule_id": "$response.body#/rule/id"}),
    "remove": Link("removeRule", {"rule_id": "$response.body#/rule/id"}),
}
W, R = Permission.RULES_WRITE, Permission.RULES_READ

OPERATIONS = (
    Operation(
        "GET", "/rules", "listRules",
        "The ordered rule lists: one user's or group's, or all (then the global ones)", "rules",
        list_rules, R, query=OwnerQuery, out=RuleListOut, etag=True,
    ),
    Operation(
        "POST", "/rules", "addRule", "Insert a rule into a user's or group's list", "rules",
        add_rule, W, body=RuleIn, out=RuleAddedOut, status=201, etag=True, links=_LINKS,
        names_owner=True,
    ),
    Operation(
        "PUT", "/rules/{rule_id}/position", "moveRule", "Move a rule within its list", "rules",
        move_rule, W, params=RulePath, body=MoveIn, out=RuleOut, etag=True,
    ),
    Operation(
        "DELETE", "/rules/{rule_id}", "removeRule", "Remove a rule", "rules",
        remove_rule, W, params=RulePath, out=RuleOut, etag=True,
    ),
    Operation(
        "GET", "/rules/lint", "lintRules",
        "Findings: shadowed rules, denies after allows, rules that never match", "rules",
        lint_rules, R, query=OwnerQuery, out=LintOut,
    ),
)  # fmt: skip
