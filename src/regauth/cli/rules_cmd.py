"""``regauth rules …``: ordered rules attached to a user or a group."""

from __future__ import annotations

import click
from pydantic import ValidationError

from regauth.cli.context import CliContext, pass_cli
from regauth.config.rules import RuleSettings
from regauth.store import Database, RuleRecord, RuleSpec, RuleStore


@click.group("rules")
def command() -> None:
    """Manage account rules stored in the database (the config's [[rules]] are global)."""


def _owner(user: str | None, group: str | None) -> None:
    if (user is None) == (group is None):
        raise click.UsageError("give exactly one of --user or --group")


def _show(rule: RuleRecord) -> str:
    actions = ",".join(rule.actions) or "(deny)"
    extra = ""
    if rule.services:
        extra += f" service={','.join(rule.services)}"
    if rule.client_cidrs:
        extra += f" client_cidr={','.join(rule.client_cidrs)}"
    comment = f"  # {rule.comment}" if rule.comment else ""
    return (
        f"{rule.id}\t{rule.owner_kind}:{rule.owner}\t{rule.position}\t{rule.type}:{rule.name}"
        f"\t{actions}{extra}{comment}"
    )


@command.command("add")
@click.option("--user", default=None)
@click.option("--group", default=None)
@click.option("--name", "pattern", required=True, help="Pattern: * one segment, ** any.")
@click.option("--actions", default="", help="Comma-separated; empty = explicit deny; * = all.")
@click.option("--type", "rtype", default="repository", show_default=True)
@click.option("--service", "services", multiple=True)
@click.option("--client-cidr", "cidrs", multiple=True)
@click.option("--comment", default="")
@click.option("--position", type=int, default=None, help="1-based; default: the end.")
@pass_cli
def add(
    cli: CliContext,
    user: str | None,
    group: str | None,
    pattern: str,
    actions: str,
    rtype: str,
    services: tuple[str, ...],
    cidrs: tuple[str, ...],
    comment: str,
    position: int | None,
) -> None:
    """Add a rule to a user's or a group's ordered list."""
    _owner(user, group)
    acts = tuple(a.strip() for a in actions.split(",") if a.strip())
    try:
        RuleSettings(name=pattern, actions=acts, type=rtype, service=services, client_cidr=cidrs)
    except ValidationError as exc:
        raise click.UsageError(exc.errors(include_url=False)[0]["msg"]) from None
    spec = RuleSpec(pattern, acts, rtype, services, cidrs, comment)

    async def run(db: Database) -> RuleRecord:
        return await RuleStore(db, cli.clock).add(
            user=user, group=group, spec=spec, position=position
        )

    click.echo(_show(cli.run_db(run)))


@command.command("list")
@click.option("--user", default=None)
@click.option("--group", default=None)
@pass_cli
def list_rules(cli: CliContext, user: str | None, group: str | None) -> None:
    """List rules (id, owner, position, resource, actions)."""

    async def run(db: Database) -> list[RuleRecord]:
        return await RuleStore(db, cli.clock).list(user=user, group=group)

    for rule in cli.run_db(run):
        click.echo(_show(rule))
    for i, entry in enumerate(cli.settings.rules, start=1):
        who = (
            f"account={entry.account}"
            if entry.account
            else f"group={entry.group}"
            if entry.group
            else "anonymous"
            if entry.anonymous
            else "everyone"
        )
        if user is None and group is None:
            actions = ",".join(entry.actions) or "(deny)"
            click.echo(f"config:{i}\tglobal ({who})\t{i}\t{entry.type}:{entry.name}\t{actions}")


@command.command("move")
@click.argument("rule_id", type=int)
@click.argument("position", type=int)
@pass_cli
def move(cli: CliContext, rule_id: int, position: int) -> None:
    """Move a rule to POSITION within its list."""

    async def run(db: Database) -> RuleRecord:
        return await RuleStore(db, cli.clock).move(rule_id, position)

    click.echo(_show(cli.run_db(run)))


@command.command("remove")
@click.argument("rule_id", type=int)
@pass_cli
def remove(cli: CliContext, rule_id: int) -> None:
    """Remove a rule."""

    async def run(db: Database) -> None:
        await RuleStore(db, cli.clock).remove(rule_id)

    cli.run_db(run)
    click.echo(f"removed rule {rule_id}")
