"""The ``regauth`` command: a thin layer over the library (STYLE rule 12)."""

from __future__ import annotations

import sys

import click

from regauth.cli import config_cmd, init_cmd, keys_cmd, serve_cmd, tokens_cmd, users_cmd
from regauth.cli.context import CliContext
from regauth.errors import RegauthError


@click.group()
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Configuration file (default: $REGAUTH_CONFIG, else ./var/regauth.toml).",
)
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """Token authentication and authorization for OCI / Docker registries."""
    ctx.obj = CliContext(config_path)


for module in (init_cmd, serve_cmd, config_cmd, keys_cmd, users_cmd, tokens_cmd):
    cli.add_command(module.command)


def main() -> None:
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except RegauthError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
