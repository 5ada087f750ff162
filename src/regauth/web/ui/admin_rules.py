"""Admin → Rules: every ordered list with its rules, the lint findings next to the rule they
concern, and forms to add, move and remove rules (admin layer: ``regauth.admin.rules``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from regauth.admin.rules import (
    AddRule,
    MoveRule,
    RemoveRule,
    RuleView,
    add_rule,
    lint_rules,
    list_rules,
    move_rule,
    remove_rule,
)
from regauth.domain.lint import Finding
from regauth.errors import AdminInvalid
from regauth.web.ui.context import rules_context
from regauth.web.ui.endpoint import read_form
from regauth.web.ui.render import page, see_other
from regauth.web.ui.visit import Visit, unit_of_work

ACTIONS = ("pull", "push", "delete", "*")
PAGE = "/ui/admin/rules"


def rule_key(rule_id: str) -> str:
    """``user:alice#3 (comment)`` → ``user:alice#3``: findings name rules by their label."""
    return rule_id.split(" ", 1)[0]


async def rules_page(
    request: Request,
    visit: Visit,
    *,
    status: int = 200,
    problems: Mapping[str, str] | None = None,
    form: FormData | None = None,
) -> Response:
    ctx = rules_context(request)
    async with unit_of_work(request) as uow:
        rules = await list_rules(uow, visit.actor)
        findings = await lint_rules(uow, visit.actor, ctx)
    by_rule: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        by_rule[rule_key(finding.rule)].append(finding)
    lists: dict[str, list[RuleView]] = {}
    for rule in rules:
        lists.setdefault(rule.list, []).append(rule)
    config = [(rule_key(r.label), r) for r in ctx.config_rules]
    return page(
        request,
        "admin/rules.html",
        visit,
        status=status,
        lists=lists,
        config=config,
        findings=by_rule,
        problems=dict(problems or {}),
        form=form or {},
        actions=ACTIONS,
    )


async def rules(request: Request, visit: Visit) -> Response:
    return await rules_page(request, visit)


def _command(form: FormData) -> AddRule:
    owner_kind = str(form.get("owner_kind", "user"))
    owner = str(form.get("owner", "")).strip()
    position = str(form.get("position", "")).strip()
    if position and not position.isdigit():
        raise AdminInvalid({"position": "a position is a whole number from 1"})
    return AddRule(
        name=str(form.get("name", "")).strip(),
        actions=tuple(a for a in ACTIONS if form.get(f"action_{a}") == "on"),
        user=owner if owner_kind == "user" else None,
        group=owner if owner_kind == "group" else None,
        type=str(form.get("type", "repository")).strip() or "repository",
        services=_list(form.get("services")),
        client_cidrs=_list(form.get("client_cidrs")),
        comment=str(form.get("comment", "")).strip(),
        deny=form.get("deny") == "on",
        position=int(position) if position else None,
    )


def _list(value: object) -> tuple[str, ...]:
    return tuple(item for item in str(value or "").replace(",", " ").split() if item)


async def add(request: Request, visit: Visit) -> Response:
    form = await read_form(request, visit)
    try:
        cmd = _command(form)
        async with unit_of_work(request) as uow:
            await add_rule(uow, visit.actor, cmd, rules_context(request))
    except AdminInvalid as error:
        problems = {("owner" if k in ("user", "group") else k): v for k, v in error.fields.items()}
        return await rules_page(request, visit, status=422, problems=problems, form=form)
    return see_other(f"{PAGE}?notice=saved")


async def move(request: Request, visit: Visit) -> Response:
    form = await read_form(request, visit)
    position = str(form.get("position", "")).strip()
    if not position.isdigit():
        raise AdminInvalid({"position": "a position is a whole number from 1"})
    async with unit_of_work(request) as uow:
        await move_rule(uow, visit.actor, MoveRule(_rule_id(request), int(position)))
    return see_other(f"{PAGE}?notice=saved")


async def remove(request: Request, visit: Visit) -> Response:
    await read_form(request, visit)
    async with unit_of_work(request) as uow:
        await remove_rule(uow, visit.actor, RemoveRule(_rule_id(request)))
    return see_other(f"{PAGE}?notice=removed")


def _rule_id(request: Request) -> int:
    value = request.path_params["rule_id"]
    return int(value) if isinstance(value, int) else int(str(value))
