"""``regauth check``: the decision the token endpoint would make, issuing nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from regauth.cli.context import CliContext, pass_cli
from regauth.errors import ProblemError

if TYPE_CHECKING:
    from regauth.admin import Actor, UnitOfWork
    from regauth.admin.check import CheckView
    from regauth.domain.policy import Grant


@click.command("check")
@click.option("--user", default=None, help="The account to check (omit with --anonymous).")
@click.option("--anonymous", is_flag=True, help="Check the unauthenticated caller.")
@click.option("--token-id", default=None, help="As this personal access token (or robot token).")
@click.option("--group", "groups", multiple=True, help="What-if: an extra group (repeatable).")
@click.option("--claim", "claims", multiple=True, help="What-if: an extra claim KEY=VALUE.")
@click.option("--scope", "scopes", multiple=True, required=True)
@click.option("--service", default=None, help="Default: the first of token.services.")
@click.option("--client-ip", default=None, help="The client address the server would see.")
@click.option("--offline", is_flag=True, help="Do not call authorization webhooks.")
@pass_cli
def command(
    cli: CliContext,
    user: str | None,
    anonymous: bool,
    token_id: str | None,
    groups: tuple[str, ...],
    claims: tuple[str, ...],
    scopes: tuple[str, ...],
    service: str | None,
    client_ip: str | None,
    offline: bool,
) -> None:
    """Print what each stage decided for every scope, from the inputs the server uses.

    Stored attributes (plan, licence), group memberships, token rules,
    revocation and expiry are read as the server reads them; exit status 1
    when the server would refuse the request.
    """
    from regauth.admin.check import CheckAccess, check_access
    from regauth.domain.scope import parse_scopes

    if anonymous == bool(user):
        raise click.UsageError("give --user NAME or --anonymous")
    if token_id and not user:
        raise click.UsageError("--token-id needs the token's --user")
    svc = service or (cli.settings.token.services or ("",))[0]
    extra = dict(_claim(c) for c in claims)
    cmd = CheckAccess(
        parse_scopes(scopes), svc, user, token_id, client_ip, groups, extra, not offline
    )

    async def run(uow: UnitOfWork, actor: Actor) -> CheckView:
        decider, close = cli.decider(uow.db, webhooks=not offline)
        try:
            return await check_access(uow, actor, cmd, decider)
        finally:
            await close()

    try:
        view = cli.run_admin(run)
    except ProblemError as exc:
        click.echo(f"denied: {exc.code}: {exc.detail or exc.title}")
        raise SystemExit(1) from None
    for note in view.notes:
        click.echo(f"note: {note}", err=True)
    p = view.principal
    click.echo(
        f"principal {p.subject or '(anonymous)'} source={p.source}"
        f" groups={','.join(sorted(p.groups)) or '-'} service={svc}"
    )
    for grant in view.grants:
        click.echo(render(grant))


def render(grant: Grant) -> str:
    lines = [
        f"{grant.requested.resource}  requested {','.join(grant.requested.actions)}"
        f" → granted {','.join(grant.actions) or 'nothing'}"
    ]
    lines += [f"  {d.stage:<8} {','.join(d.actions) or '-':<16} {d.reason}" for d in grant.trace]
    return "\n".join(lines)


def _claim(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise click.BadParameter(f"claims are KEY=VALUE, got {text!r}")
    return key, value
