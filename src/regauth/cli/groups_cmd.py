"""``regauth groups …``: groups and their members."""

from __future__ import annotations

import click

from regauth.cli.context import CliContext, pass_cli
from regauth.store import Database, GroupStore


@click.group("groups")
def command() -> None:
    """Manage groups and memberships."""


@command.command("add")
@click.argument("name")
@pass_cli
def add(cli: CliContext, name: str) -> None:
    """Create a group."""

    async def run(db: Database) -> None:
        await GroupStore(db, cli.clock).add(name)

    cli.run_db(run)
    click.echo(f"added group {name}")


@command.command("list")
@pass_cli
def list_groups(cli: CliContext) -> None:
    """List groups with their members."""

    async def run(db: Database) -> None:
        for name, members in await GroupStore(db, cli.clock).list():
            click.echo(f"{name}\t{','.join(members) or '-'}")

    cli.run_db(run)


@command.command("members")
@click.argument("name")
@click.option("--add", "to_add", multiple=True, help="User to add (repeatable).")
@click.option("--remove", "to_remove", multiple=True, help="User to remove (repeatable).")
@pass_cli
def members(
    cli: CliContext, name: str, to_add: tuple[str, ...], to_remove: tuple[str, ...]
) -> None:
    """Show, add or remove members of a group."""

    async def run(db: Database) -> tuple[str, ...]:
        groups = GroupStore(db, cli.clock)
        for user in to_add:
            await groups.add_member(name, user)
        for user in to_remove:
            await groups.remove_member(name, user)
        return dict(await groups.list()).get(name, ())

    click.echo("\n".join(cli.run_db(run)))


@command.command("remove")
@click.argument("name")
@pass_cli
def remove(cli: CliContext, name: str) -> None:
    """Delete a group (its rules and memberships go with it)."""

    async def run(db: Database) -> None:
        await GroupStore(db, cli.clock).delete(name)

    cli.run_db(run)
    click.echo(f"removed group {name}")
