"""``regauth check``: the decision trace for a principal and scopes, issuing nothing."""

from __future__ import annotations

from collections.abc import Sequence

import click

from regauth.authn.pat import parse_token_rules
from regauth.authz.config_rules import compile_rules
from regauth.cli.context import CliContext, pass_cli
from regauth.domain.policy import Grant
from regauth.domain.principal import ANONYMOUS, Principal
from regauth.domain.scope import parse_scopes
from regauth.errors import ProblemError
from regauth.ports import CallerFacts
from regauth.store import Database, TokenStore, UserStore


@click.command("check")
@click.option("--user", default=None, help="The account to check (omit with --anonymous).")
@click.option("--anonymous", is_flag=True, help="Check the unauthenticated caller.")
@click.option("--token-id", default=None, help="Narrow by this personal access token's rules.")
@click.option("--group", "groups", multiple=True, help="Extra group (repeatable).")
@click.option("--claim", "claims", multiple=True, help="Extra claim KEY=VALUE (plans, CEL).")
@click.option("--scope", "scopes", multiple=True, required=True)
@click.option("--service", default=None, help="Default: the first of token.services.")
@click.option("--client-ip", default=None)
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
    """Print what each stage decided for every scope, and why (nothing is issued)."""
    if anonymous == bool(user):
        raise click.UsageError("give --user NAME or --anonymous")
    items = parse_scopes(scopes)
    svc = service or (cli.settings.token.services or ("",))[0]

    async def run(db: Database) -> tuple[Principal, tuple[Grant, ...]]:
        principal = await _principal(cli, db, user, token_id, groups, claims)
        decider, close = cli.decider(db, webhooks=not offline)
        try:
            facts = CallerFacts(client_ip=client_ip, service=svc)
            return principal, await decider.decide(principal, items, facts, webhooks=not offline)
        finally:
            await close()

    try:
        principal, grants = cli.run_db(run)
    except ProblemError as exc:
        click.echo(f"denied: {exc.code}: {exc.detail}")
        raise SystemExit(1) from None
    click.echo(
        f"principal {principal.subject or '(anonymous)'} source={principal.source}"
        f" groups={','.join(sorted(principal.groups)) or '-'} service={svc}"
    )
    for grant in grants:
        click.echo(render(grant))


def render(grant: Grant) -> str:
    lines = [
        f"{grant.requested.resource}  requested {','.join(grant.requested.actions)}"
        f" → granted {','.join(grant.actions) or 'nothing'}"
    ]
    lines += [f"  {d.stage:<8} {','.join(d.actions) or '-':<16} {d.reason}" for d in grant.trace]
    return "\n".join(lines)


async def _principal(
    cli: CliContext,
    db: Database,
    user: str | None,
    token_id: str | None,
    groups: Sequence[str],
    claims: Sequence[str],
) -> Principal:
    extra = dict(_claim(c) for c in claims)
    if user is None:
        return (
            Principal("", "anonymous", frozenset(groups), extra) if groups or extra else ANONYMOUS
        )
    record = await UserStore(db, cli.clock).get(user)
    if record is None:
        click.echo(f"note: {user} is not a local user; using the given groups only", err=True)
    all_groups = frozenset(groups) | frozenset(record.groups if record else ())
    if token_id is None:
        return Principal(user, "local", all_groups, extra)
    tokens = [t for t in await TokenStore(db, cli.clock).list(user_name=user) if t.id == token_id]
    if not tokens:
        raise click.UsageError(f"{user} has no token {token_id}")
    rules = parse_token_rules(tokens[0].rules_json)
    token_rules = compile_rules(rules, prefix=f"token:{token_id}") if rules else None
    return Principal(user, "pat", all_groups, extra, token_id=token_id, token_rules=token_rules)


def _claim(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise click.BadParameter(f"claims are KEY=VALUE, got {text!r}")
    return key, value
