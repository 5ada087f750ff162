"""``regauth config validate``."""

from __future__ import annotations

import os
from pathlib import Path

import click

from regauth.cli.context import CliContext, pass_cli
from regauth.config import Settings, load_settings
from regauth.errors import ConfigError
from regauth.ports import SystemClock


@click.group("config")
def command() -> None:
    """Check configuration files."""


@command.command("validate")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@pass_cli
def validate(cli: CliContext, file: str | None) -> None:
    """Validate FILE (default: the active configuration); exit 1 on errors."""
    import anyio
    from prometheus_client import CollectorRegistry

    from regauth.runtime import build_policy

    path = Path(file) if file else cli.config_path
    try:
        settings = load_settings(path, os.environ)
        _, close = build_policy(settings, SystemClock(), CollectorRegistry())
        anyio.run(close)
    except ConfigError as exc:
        for line in str(exc).split("; "):
            click.echo(f"{path}: {line}", err=True)
        raise SystemExit(1) from None
    for warning in warnings(settings):
        click.echo(f"{path}: warning: {warning}", err=True)
    click.echo(f"{path}: ok ({len(settings.rules)} rules, keys in {settings.keys_dir})")


def warnings(settings: Settings) -> list[str]:
    """Settings that load but will not work with some registry, in plain words."""
    found: list[str] = []
    if not settings.keys.x5c and settings.keys.kid == "libtrust":
        found.append(
            'keys.x5c = false with keys.kid = "libtrust": tokens carry only the libtrust '
            "kid, which no JWKS lists, so a Distribution 3.x registry configured with jwks "
            'rejects every token; set keys.kid = "rfc7638" (or keys.x5c = true with a '
            "rootcertbundle)"
        )
    return found
