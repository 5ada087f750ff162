"""``regauth config validate``: what ``serve`` would fail on, and the rule lint."""

from __future__ import annotations

import os
from pathlib import Path

import click

from regauth.cli.context import CliContext, pass_cli
from regauth.config import Settings
from regauth.errors import ConfigError


@click.group("config")
def command() -> None:
    """Check configuration files."""


@command.command("validate")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@pass_cli
def validate(cli: CliContext, file: str | None) -> None:
    """Validate FILE (default: the active configuration) as `serve` would load it.

    Checks the file, the environment it names (API-key fingerprints), the
    signing keys (a passphrase that does not decrypt them) and the policies;
    any of those is an error (exit 1). Rule lint findings are printed as
    warnings and do not change the exit status.
    """
    path = Path(file) if file else cli.config_path
    settings, errors = _load(path)
    for line in errors:
        click.echo(f"{path}: {line}", err=True)
    if settings is None or errors:
        raise SystemExit(1)
    for finding in _lint(settings):
        click.echo(f"{path}: warning: lint {finding}", err=True)
    click.echo(f"{path}: ok ({len(settings.rules)} rules, keys in {settings.keys_dir})")


def _load(path: Path) -> tuple[Settings | None, list[str]]:
    """Everything serve builds at start-up that can fail on configuration, every error."""
    import anyio
    from prometheus_client import CollectorRegistry

    from regauth.authn.apikeys import ApiKeys
    from regauth.config import load_settings
    from regauth.ports import SystemClock
    from regauth.runtime import build_policy, key_store
    from regauth.web.reload import apply_env_file_for

    apply_env_file_for(path, os.environ)
    try:
        settings = load_settings(path, os.environ)
    except ConfigError as exc:
        return None, str(exc).split("; ")

    def policy() -> None:
        _, close = build_policy(settings, SystemClock(), CollectorRegistry())
        anyio.run(close)

    checks = (
        policy,
        lambda: ApiKeys.build(settings.auth.api_keys, os.environ),
        lambda: key_store(settings, SystemClock()).load(settings.keys.kid),
    )
    errors = []
    for check in checks:
        try:
            check()
        except ConfigError as exc:
            errors.append(str(exc))
    return settings, errors


def _lint(settings: Settings) -> list[str]:
    """Lint of the global rules, with the database's lists when the database exists."""
    import anyio

    from regauth.admin import Actor, UnitOfWork
    from regauth.admin.rules import RulesContext, lint_rules
    from regauth.admin.validation import action_problem
    from regauth.authz.config_rules import compile_rules
    from regauth.domain.lint import RuleList, lint
    from regauth.ports import SystemClock
    from regauth.store import Database

    ctx = RulesContext(compile_rules(settings.rules), frozenset(settings.token.services))
    db = Database(settings.database_url)
    if not db.exists():
        lists = [RuleList("global", "", ctx.config_rules)]
        found = lint(lists, services=ctx.services, action_problem=action_problem)
        return [str(f) for f in found]

    async def run() -> list[str]:
        try:
            async with UnitOfWork(db, SystemClock()) as uow:
                found = await lint_rules(uow, Actor.console("config-validate"), ctx)
            return [str(f) for f in found]
        finally:
            await db.dispose()

    return anyio.run(run)
