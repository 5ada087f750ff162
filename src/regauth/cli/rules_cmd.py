"""``regauth rules …``: ordered rules attached to a user or a group, and their lint.

A thin caller of :mod:`regauth.admin.rules`; heavy modules are imported in
the commands, not at start-up.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from regauth.cli.context import CliContext, pass_cli

if TYPE_CHECKING:
    from regauth.admin.rules import RulesContext, RuleView
    from regauth.config.rules import RuleSettings
    from regauth.domain.lint import Finding


@click.group("rules")
def command() -> None:
    """Manage account rules stored in the database (the config's [[rules]] are global).

    Order is the semantics: within each list (a user's own rules, each
    group's rules, the global rules) the first rule that matches decides.
    """


def _context(cli: CliContext) -> RulesContext:
    from regauth.admin.rules import RulesContext
    from regauth.authz.config_rules import compile_rules

    settings = cli.settings
    return RulesContext(compile_rules(settings.rules), frozenset(settings.token.services))


def _show(rule: RuleView) -> str:
    kind, _, owner = rule.list.partition(" ")
    return f"{rule.id}\t{kind}:{owner}\t{rule.position}\t{rule.type}:{rule.name}\t{_what(rule)}"


def _what(rule: RuleView) -> str:
    text = ",".join(rule.actions) or "(deny)"
    if rule.services:
        text += f" service={','.join(rule.services)}"
    if rule.client_cidrs:
        text += f" client_cidr={','.join(rule.client_cidrs)}"
    return text + (f"  # {rule.comment}" if rule.comment else "")


def echo_findings(findings: Sequence[Finding], *, err: bool = False) -> None:
    for finding in findings:
        click.echo(str(finding), err=err)


@command.command("add")
@click.option("--user", default=None)
@click.option("--group", default=None)
@click.option("--name", "pattern", required=True, help="Pattern: * one segment, ** any.")
@click.option("--actions", default="", help="Comma-separated; * = whatever was requested.")
@click.option("--deny", is_flag=True, help="An explicit deny (no actions).")
@click.option("--type", "rtype", default="repository", show_default=True)
@click.option("--service", "services", multiple=True)
@click.option("--client-cidr", "cidrs", multiple=True)
@click.option("--comment", default="")
@click.option("--position", type=int, default=None, help="1-based within the list; default: end.")
@pass_cli
def add(
    cli: CliContext,
    user: str | None,
    group: str | None,
    pattern: str,
    actions: str,
    deny: bool,
    rtype: str,
    services: tuple[str, ...],
    cidrs: tuple[str, ...],
    comment: str,
    position: int | None,
) -> None:
    """Add a rule to a user's or a group's ordered list; lint findings are printed as warnings."""
    from regauth.admin.rules import AddRule, add_rule

    acts = tuple(a.strip() for a in actions.split(",") if a.strip())
    cmd = AddRule(pattern, acts, user, group, rtype, services, cidrs, comment, deny, position)
    ctx = _context(cli)
    added = cli.run_admin(lambda uow, actor: add_rule(uow, actor, cmd, ctx))
    click.echo(_show(added.rule))
    echo_findings(added.findings, err=True)


@command.command("list")
@click.option("--user", default=None)
@click.option("--group", default=None)
@pass_cli
def list_rules(cli: CliContext, user: str | None, group: str | None) -> None:
    """Each ordered list with the positions --position and `rules move` count."""
    from regauth.admin.rules import list_rules as run

    views = cli.run_admin(lambda uow, actor: run(uow, actor, user=user, group=group))
    lists: dict[str, list[tuple[str, ...]]] = {}
    for view in views:
        lists.setdefault(view.list, []).append(
            (str(view.position), str(view.id), f"{view.type}:{view.name}", _what(view))
        )
    if user is None and group is None:
        rows = [_config_row(i, e) for i, e in enumerate(cli.settings.rules, start=1)]
        lists["global (config file)"] = rows
    for title, rows in lists.items():
        click.echo(f"{title}:")
        for line in _table(("POS", "ID", "RESOURCE", "ACTIONS"), rows):
            click.echo(f"  {line}")


def _config_row(index: int, entry: RuleSettings) -> tuple[str, ...]:
    who = (
        f"account={entry.account}"
        if entry.account
        else f"group={entry.group}"
        if entry.group
        else f"anonymous={str(entry.anonymous).lower()}"
        if entry.anonymous is not None
        else "anyone"
    )
    actions = ",".join(entry.actions) or "(deny)"
    comment = f"  # {entry.comment}" if entry.comment else ""
    return (
        str(index),
        f"config:{index}",
        f"{entry.type}:{entry.name}",
        f"{actions} {who}{comment}",
    )


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header) - 1)]
    return [
        "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]])
        for row in (header, *rows)
    ]


@command.command("lint")
@click.option("--user", default=None, help="Only this user's list (and the global rules).")
@click.option("--group", default=None, help="Only this group's list (and the global rules).")
@pass_cli
def lint(cli: CliContext, user: str | None, group: str | None) -> None:
    """Find rules that never decide, denies that never apply and unknown names.

    Exit status 1 when an error is found, 0 when there are only warnings.
    """
    from regauth.admin.rules import lint_rules

    ctx = _context(cli)
    findings = cli.run_admin(lambda uow, actor: lint_rules(uow, actor, ctx, user=user, group=group))
    echo_findings(findings)
    errors = sum(f.level == "error" for f in findings)
    click.echo(f"{errors} error(s), {len(findings) - errors} warning(s)")
    if errors:
        raise SystemExit(1)


@command.command("move")
@click.argument("rule_id", type=int)
@click.argument("position", type=int)
@pass_cli
def move(cli: CliContext, rule_id: int, position: int) -> None:
    """Move a rule to POSITION (1-based) within its list."""
    from regauth.admin.rules import MoveRule, move_rule

    click.echo(_show(cli.run_admin(lambda u, a: move_rule(u, a, MoveRule(rule_id, position)))))


@command.command("remove")
@click.argument("rule_id", type=int)
@pass_cli
def remove(cli: CliContext, rule_id: int) -> None:
    """Remove a rule."""
    from regauth.admin.rules import RemoveRule, remove_rule

    cli.run_admin(lambda uow, actor: remove_rule(uow, actor, RemoveRule(rule_id)))
    click.echo(f"removed rule {rule_id}")
