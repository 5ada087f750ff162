"""The ``regauth`` command: a thin layer over the library (STYLE rule 12)."""

from __future__ import annotations

from typing import Any

import click

from regauth.cli import (
    access_cmd,
    apikey_cmd,
    audit_cmd,
    check_cmd,
    config_cmd,
    events_cmd,
    groups_cmd,
    init_cmd,
    keys_cmd,
    policy_cmd,
    registry_config_cmd,
    rules_cmd,
    serve_cmd,
    tokens_cmd,
    users_cmd,
)
from regauth.cli.context import CliContext
from regauth.errors import RegauthError


class _Group(click.Group):
    """Turns regauth's own errors into a one-line message and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RegauthError as exc:
            raise _Failure(str(exc)) from None


class _Failure(click.ClickException):
    exit_code = 2

    def format_message(self) -> str:
        return self.message


@click.group(cls=_Group)
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


for module in (
    init_cmd,
    serve_cmd,
    config_cmd,
    keys_cmd,
    users_cmd,
    groups_cmd,
    rules_cmd,
    tokens_cmd,
    check_cmd,
    policy_cmd,
    audit_cmd,
    apikey_cmd,
    events_cmd,
    access_cmd,
    registry_config_cmd,
):
    cli.add_command(module.command)


def main() -> None:
    cli(prog_name="regauth")
