"""``regauth tokens …``: refresh tokens (and, later, personal access tokens)."""

from __future__ import annotations

import click

from regauth.cli.context import CliContext, pass_cli
from regauth.store import Database, TokenStore


@click.group("tokens")
def command() -> None:
    """List and revoke tokens."""


@command.command("list")
@click.option("--user", default=None)
@click.option("--kind", type=click.Choice(["refresh", "pat"]), default=None)
@pass_cli
def list_tokens(cli: CliContext, user: str | None, kind: str | None) -> None:
    """List tokens (never their secrets)."""

    async def run(db: Database) -> None:
        for t in await TokenStore(db, cli.clock).list(user_name=user, kind=kind):
            state = "revoked" if t.revoked_at else "active"
            expires = f"{t.expires_at:%Y-%m-%d}" if t.expires_at else "never"
            used = (
                f"{t.last_used_at:%Y-%m-%d %H:%M} from {t.last_used_addr}"
                if t.last_used_at
                else "never used"
            )
            label = t.name or t.client_id or "-"
            fields = (t.id, t.kind, t.user_name, label, state, f"expires {expires}", used)
            click.echo("\t".join(fields))

    cli.run_db(run)


@command.command("revoke")
@click.argument("token_id", required=False)
@click.option("--user", default=None, help="Revoke every token of this user.")
@pass_cli
def revoke(cli: CliContext, token_id: str | None, user: str | None) -> None:
    """Revoke one token by id, or all of a user's tokens with --user."""
    if bool(token_id) == bool(user):
        raise click.UsageError("give a TOKEN_ID or --user, not both")

    async def run(db: Database) -> int:
        store = TokenStore(db, cli.clock)
        if user:
            return await store.revoke_all(user)
        return 1 if await store.revoke(token_id or "") else 0

    count = cli.run_db(run)
    if token_id and not count:
        raise click.ClickException(f"no active token {token_id}")
    click.echo(f"revoked {count} token(s)")
