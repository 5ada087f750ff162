"""The ``regauth`` command: a thin layer over the library.

Start-up cost matters for a command people type: each sub-command's module (and
what it imports: the web server, CEL, LDAP, OIDC, crypto) is imported only when
that sub-command runs, so ``regauth users list`` loads the configuration and the
database layer and nothing else.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from regauth import __version__
from regauth.errors import RegauthError

# name → (module under regauth.cli, one-line help shown by ``regauth --help``)
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("init_cmd", "Write regauth.toml, keys, the database and an admin user."),
    "serve": ("serve_cmd", "Serve /token, the JWKS, health checks and metrics."),
    "registry-config": (
        "registry_config_cmd",
        "Print a complete config.yml for the Distribution registry.",
    ),
    "config": ("config_cmd", "Check configuration files."),
    "keys": ("keys_cmd", "Manage token signing keys and certificates."),
    "users": ("users_cmd", "Manage local users."),
    "groups": ("groups_cmd", "Manage groups and memberships."),
    "rules": ("rules_cmd", "Manage account rules stored in the database."),
    "tokens": ("tokens_cmd", "List and revoke tokens."),
    "check": ("check_cmd", "Show what a caller would be granted, and why."),
    "policy": ("policy_cmd", "Test the authorization policy."),
    "audit": ("audit_cmd", "Read the audit log of token decisions."),
    "apikey": ("apikey_cmd", "Create API keys (raw key + SHA-256 fingerprint)."),
    "events": ("events_cmd", "Inspect and retry outgoing event deliveries."),
    "access": ("access_cmd", "Request, list and revoke temporary access."),
}


class _Group(click.Group):
    """Loads sub-commands on first use; turns regauth's own errors into one line, exit 2."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module = importlib.import_module(f"regauth.cli.{entry[0]}")
        command: click.Command = module.command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # The listing uses the table above, so `regauth --help` imports no sub-command.
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

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
@click.version_option(__version__, "--version", prog_name="regauth", message="%(prog)s %(version)s")
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
    from regauth.cli.context import CliContext

    ctx.obj = CliContext(config_path)


def main() -> None:
    cli(prog_name="regauth")
