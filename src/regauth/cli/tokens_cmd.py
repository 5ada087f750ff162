"""``regauth tokens …``: personal access tokens, robot tokens and refresh tokens."""

from __future__ import annotations

from datetime import timedelta

import click

from regauth.admin import tokens as uc
from regauth.cli.context import CliContext, pass_cli
from regauth.errors import AdminNotFound
from regauth.ports import SystemRandom

RANDOM = SystemRandom()

LIST_KEYS = frozenset({"actions", "service", "client_cidr"})
RULE_KEYS = frozenset({"name", "type", "comment"}) | LIST_KEYS


@click.group("tokens")
def command() -> None:
    """List and revoke tokens."""


def parse_rule(text: str) -> dict[str, object]:
    """``name=team/**;actions=pull,push[;type=…][;service=…][;client_cidr=…]``, or ``…;deny``."""
    rule: dict[str, object] = {"actions": []}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        if part == "deny":
            rule["deny"] = True
            continue
        key, sep, value = part.partition("=")
        if not sep or key not in RULE_KEYS:
            raise click.BadParameter(f"unknown rule part {part!r} (keys: {sorted(RULE_KEYS)})")
        rule[key] = [v for v in value.split(",") if v] if key in LIST_KEYS else value
    if "name" not in rule:
        raise click.BadParameter(f"a rule needs name=…: {text!r}")
    return rule


def parse_duration(text: str) -> timedelta | None:
    if text == "never":
        return None
    units = {"m": 60, "h": 3600, "d": 86400}
    if not text[:-1].isdigit() or text[-1:] not in units or int(text[:-1]) <= 0:
        raise click.BadParameter("use e.g. 30d, 12h, 90m or never")
    return timedelta(seconds=int(text[:-1]) * units[text[-1]])


@command.command("create")
@click.option("--user", required=True, help="The owner (a user or a robot).")
@click.option("--name", default="", help="A label, e.g. ci.")
@click.option("--expires", default="90d", show_default=True, help="30d, 12h, … or never.")
@click.option(
    "--rule",
    "rules",
    multiple=True,
    help="name=PATTERN;actions=a,b, or name=PATTERN;deny (repeatable).",
)
@pass_cli
def create(cli: CliContext, user: str, name: str, expires: str, rules: tuple[str, ...]) -> None:
    """Create a personal access token; the secret is printed once."""
    cmd = uc.CreateToken(user, name, parse_duration(expires), tuple(parse_rule(r) for r in rules))
    created = cli.run_admin(lambda uow, actor: uc.create_token(uow, actor, cmd, random=RANDOM))
    token = created.token
    until = f"{token.expires_at:%Y-%m-%d}" if token.expires_at else "never"
    click.echo(f"token {token.id} for {user} (expires {until}); shown once:")
    click.echo(created.secret)


@command.command("list")
@click.option("--user", default=None)
@click.option("--kind", type=click.Choice(["refresh", "pat"]), default=None)
@pass_cli
def list_tokens(cli: CliContext, user: str | None, kind: str | None) -> None:
    """List tokens (never their secrets)."""
    cmd = uc.ListTokens(user=user, kind=kind)
    for t in cli.run_admin(lambda uow, actor: uc.list_tokens(uow, actor, cmd)):
        state = "revoked" if t.revoked_at else "active"
        expires = f"{t.expires_at:%Y-%m-%d}" if t.expires_at else "never"
        used = (
            f"{t.last_used_at:%Y-%m-%d %H:%M} from {t.last_used_addr}"
            if t.last_used_at
            else "never used"
        )
        label = t.name or t.client_id or "-"
        click.echo("\t".join((t.id, t.kind, t.user, label, state, f"expires {expires}", used)))


@command.command("revoke")
@click.argument("token_id", required=False)
@click.option("--user", default=None, help="Revoke every token of this user.")
@pass_cli
def revoke(cli: CliContext, token_id: str | None, user: str | None) -> None:
    """Revoke one token by id, or all of a user's tokens with --user."""
    if bool(token_id) == bool(user):
        raise click.UsageError("give a TOKEN_ID or --user, not both")
    if user:
        every = uc.RevokeUserTokens(user)
        count = cli.run_admin(lambda uow, actor: uc.revoke_user_tokens(uow, actor, every))
    else:
        one, started = uc.RevokeToken(token_id or ""), cli.clock.now()
        try:
            view = cli.run_admin(lambda uow, actor: uc.revoke_token(uow, actor, one))
        except AdminNotFound:
            view = None
        if view is None or (view.revoked_at is not None and view.revoked_at < started):
            raise click.ClickException(f"no active token {token_id}")
        count = 1
    click.echo(f"revoked {count} token(s)")
