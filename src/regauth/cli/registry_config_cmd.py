"""``regauth registry-config --notifications``: the registry's notifications block."""

from __future__ import annotations

import os

import click

from regauth.cli.context import CliContext, pass_cli
from regauth.config.events import resolve_secret
from regauth.events.notifications import notifications_block


@click.command("registry-config")
@click.option(
    "--notifications", is_flag=True, help="Print the notifications: block for the registry."
)
@click.option(
    "--url", default=None, help="How the registry reaches regauth (default: from config)."
)
@pass_cli
def command(cli: CliContext, notifications: bool, url: str | None) -> None:
    """Print registry configuration that matches this regauth."""
    if not notifications:
        raise click.UsageError("say what to print: --notifications")
    secret = resolve_secret(cli.settings.events.registry, os.environ, "events.registry")
    if secret is None:
        raise click.UsageError("set events.registry.secret or secret_env first")
    click.echo(notifications_block(cli.settings, secret, url), nl=False)
