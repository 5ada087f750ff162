"""``regauth groups …``: groups and their members (a thin caller of regauth.admin.groups)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from regauth.cli.context import CliContext, pass_cli

if TYPE_CHECKING:
    from regauth.admin import Actor, UnitOfWork


@click.group("groups")
def command() -> None:
    """Manage groups and memberships."""


@command.command("add")
@click.argument("name")
@pass_cli
def add(cli: CliContext, name: str) -> None:
    """Create a group (names: lowercase letters, digits and . _ - @)."""
    from regauth.admin.groups import AddGroup, add_group

    cli.run_admin(lambda uow, actor: add_group(uow, actor, AddGroup(name)))
    click.echo(f"added group {name}")


@command.command("list")
@pass_cli
def list_groups(cli: CliContext) -> None:
    """List groups with their members."""
    from regauth.admin.groups import list_groups as run

    for group in cli.run_admin(run):
        click.echo(f"{group.name}\t{','.join(group.members) or '-'}")


@command.command("members")
@click.argument("name")
@click.option("--add", "to_add", multiple=True, help="User to add (repeatable).")
@click.option("--remove", "to_remove", multiple=True, help="User to remove (repeatable).")
@pass_cli
def members(
    cli: CliContext, name: str, to_add: tuple[str, ...], to_remove: tuple[str, ...]
) -> None:
    """Show, add or remove members of a group."""
    from regauth.admin.groups import Membership, add_member, list_groups, remove_member

    async def run(uow: UnitOfWork, actor: Actor) -> tuple[str, ...]:
        for user in to_add:
            await add_member(uow, actor, Membership(name, user))
        for user in to_remove:
            await remove_member(uow, actor, Membership(name, user))
        found = [g for g in await list_groups(uow, actor) if g.name == name]
        if not found:
            from regauth.errors import AdminNotFound

            raise AdminNotFound(f"group {name!r} not found")
        return found[0].members

    click.echo("\n".join(cli.run_admin(run)))


@command.command("remove")
@click.argument("name")
@pass_cli
def remove(cli: CliContext, name: str) -> None:
    """Delete a group (its rules and memberships go with it)."""
    from regauth.admin.groups import RemoveGroup, remove_group

    cli.run_admin(lambda uow, actor: remove_group(uow, actor, RemoveGroup(name)))
    click.echo(f"removed group {name}")
