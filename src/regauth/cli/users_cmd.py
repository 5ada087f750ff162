"""``regauth users …``: local accounts."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import click

from regauth.cli.context import CliContext, pass_cli, read_secret

if TYPE_CHECKING:
    from regauth.admin import Actor, UnitOfWork
    from regauth.admin.users import Lockout
    from regauth.authn.passwords import PasswordHasher


@click.group("users")
def command() -> None:
    """Manage local users."""


def _hasher(cli: CliContext) -> PasswordHasher:
    # Imported here: argon2 and bcrypt are only needed by commands that hash.
    from regauth.authn.passwords import PasswordHasher

    p = cli.settings.passwords
    return PasswordHasher(
        time_cost=p.time_cost, memory_cost=p.memory_cost, parallelism=p.parallelism
    )


@command.command("add")
@click.argument("name")
@click.option("--group", "groups", multiple=True, help="Group to join (repeatable).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--robot", is_flag=True, help="A robot account: no password, tokens only.")
@pass_cli
def add(
    cli: CliContext, name: str, groups: tuple[str, ...], password_stdin: bool, robot: bool
) -> None:
    """Create a user (names: lowercase letters, digits and . _ - @)."""
    from regauth.admin.users import AddUser, add_user
    from regauth.admin.validation import name_problem, require

    require({"name": name_problem(name)})  # before asking for a password
    password = None if robot else read_secret("Password", password_stdin)

    async def run(uow: UnitOfWork, actor: Actor) -> None:
        hashed = await _hasher(cli).ahash(password) if password is not None else None
        await add_user(uow, actor, AddUser(name, hashed, groups, robot))

    cli.run_admin(run)
    click.echo(f"added {'robot' if robot else 'user'} {name}")


def _lockout(cli: CliContext) -> Lockout:
    from regauth.admin.users import Lockout

    throttle = cli.settings.auth.throttle
    return Lockout(throttle.max_failures_per_account, throttle.window)


@command.command("show")
@click.argument("name")
@pass_cli
def show(cli: CliContext, name: str) -> None:
    """Show a user: kind, state, groups, attributes, tokens and lock state."""
    from regauth.admin.users import UserName, show_user

    lockout = _lockout(cli)
    user = cli.run_admin(lambda uow, actor: show_user(uow, actor, UserName(name), lockout))
    now = cli.clock.now()
    lock = (
        f"locked until {user.locked_until:%Y-%m-%d %H:%M:%S} ({user.failures} failed logins)"
        if user.locked_until
        else f"not locked ({user.failures} failed logins in the window)"
    )
    click.echo(f"name:       {user.name}")
    click.echo(f"kind:       {user.kind}")
    click.echo(f"state:      {'disabled' if user.disabled else 'active'}")
    click.echo(f"password:   {'set' if user.has_password else 'none'}")
    click.echo(f"groups:     {', '.join(user.groups) or '-'}")
    attributes = ", ".join(f"{k}={v}" for k, v in sorted(user.attributes.items()))
    click.echo(f"attributes: {attributes or '-'}")
    click.echo(f"lock:       {lock}")
    click.echo(f"tokens:     {len(user.tokens) or '-'}")
    for t in user.tokens:
        expires = f"{t.expires_at:%Y-%m-%d}" if t.expires_at else "never"
        used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never"
        click.echo(
            f"  {t.id:<24} {t.kind:<8} {t.name or '-':<12} {t.state(now):<8} "
            f"expires {expires:<10} used {used}"
        )


@command.command("remove")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_cli
def remove(cli: CliContext, name: str, yes: bool) -> None:
    """Remove a user: revokes its tokens, removes its rules and memberships; audit stays."""
    from regauth.admin.users import UserName, remove_user

    if not yes and not click.confirm(f"remove user {name}?", default=False):
        raise SystemExit(1)
    user = cli.run_admin(lambda uow, actor: remove_user(uow, actor, UserName(name)))
    click.echo(f"removed {user.kind} {name} ({len(user.tokens)} token(s) revoked)")


@command.command("unlock")
@click.argument("name")
@pass_cli
def unlock(cli: CliContext, name: str) -> None:
    """Clear the failed-login counter of NAME, so throttling lets it log in again."""
    from regauth.admin.users import UserName, unlock_user

    lockout = _lockout(cli)
    failures = cli.run_admin(lambda uow, actor: unlock_user(uow, actor, UserName(name), lockout))
    click.echo(f"unlocked {name} (cleared {failures} failed login(s))")


@command.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True)
@click.option("--expires-in-days", type=int, default=None, help="Password expires after N days.")
@pass_cli
def passwd(cli: CliContext, name: str, password_stdin: bool, expires_in_days: int | None) -> None:
    """Set a user's password (without --expires-in-days it does not expire)."""
    from regauth.admin.users import UpdateUser, update_user

    password = read_secret("New password", password_stdin)
    expires = cli.clock.now() + timedelta(days=expires_in_days) if expires_in_days else None

    async def run(uow: UnitOfWork, actor: Actor) -> None:
        hashed = await _hasher(cli).ahash(password)
        change = UpdateUser(
            name,
            password_hash=hashed,
            password_expires_at=expires,
            clear_password_expiry=not expires,
        )
        await update_user(uow, actor, change)

    cli.run_admin(run)
    click.echo(f"password changed for {name}")


@command.command("disable")
@click.argument("name")
@click.option("--enable", is_flag=True, help="Re-enable instead.")
@pass_cli
def disable(cli: CliContext, name: str, enable: bool) -> None:
    """Disable (or --enable) a user: its logins and refresh tokens stop working."""
    from regauth.admin.users import UpdateUser, update_user

    cli.run_admin(lambda uow, actor: update_user(uow, actor, UpdateUser(name, disabled=not enable)))
    click.echo(f"{'enabled' if enable else 'disabled'} {name}")


@command.command("list")
@pass_cli
def list_users(cli: CliContext) -> None:
    """List users with their groups and state."""
    from regauth.admin.users import all_users

    for user in cli.run_admin(all_users):
        state = "disabled" if user.disabled else "active"
        groups = ",".join(user.groups) or "-"
        click.echo(f"{user.name}\t{user.kind}\t{state}\t{groups}")


@command.command("import-htpasswd")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--group", "groups", multiple=True, help="Group for every imported user.")
@pass_cli
def import_htpasswd(cli: CliContext, file: str, groups: tuple[str, ...]) -> None:
    """Import bcrypt users from an htpasswd file (upgraded to argon2id at next login)."""
    from regauth.admin.users import AddUser, add_user
    from regauth.admin.validation import name_problem
    from regauth.authn.passwords import parse_htpasswd

    entries = parse_htpasswd(Path(file).read_text(encoding="utf-8"))
    invalid = [name for name, _ in entries if name_problem(name)]
    for name in invalid:
        click.echo(f"skipped {name!r}: {name_problem(name)}", err=True)

    async def run(uow: UnitOfWork, actor: Actor) -> tuple[int, int]:
        added = skipped = 0
        for name, hashed in entries:
            if name in invalid:
                continue
            if await uow.users.get(name) is not None:
                skipped += 1
                continue
            await add_user(uow, actor, AddUser(name, hashed, groups))
            added += 1
        return added, skipped

    added, skipped = cli.run_admin(run)
    click.echo(f"imported {added} users, skipped {skipped} existing")


@command.command("attr")
@click.argument("name")
@click.argument("assignments", nargs=-1)
@click.option("--unset", "unset", multiple=True, help="Attribute to remove (repeatable).")
@pass_cli
def attr(cli: CliContext, name: str, assignments: tuple[str, ...], unset: tuple[str, ...]) -> None:
    """Show or set a user's attributes (KEY=VALUE): claims for plans, licences and CEL."""
    from regauth.admin.users import UpdateUser, UserName, show_user, update_user

    changes = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"attributes are KEY=VALUE, got {item!r}")
        changes[key] = value

    async def run(uow: UnitOfWork, actor: Actor) -> Mapping[str, str]:
        user = await show_user(uow, actor, UserName(name))
        if not (changes or unset):
            return user.attributes
        attributes = {k: v for k, v in user.attributes.items() if k not in unset} | changes
        return (await update_user(uow, actor, UpdateUser(name, attributes=attributes))).attributes

    for key, value in sorted(cli.run_admin(run).items()):
        click.echo(f"{key}={value}")
