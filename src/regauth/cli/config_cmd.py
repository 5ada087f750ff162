"""``regauth config validate``."""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import click

from regauth.cli.context import CliContext, pass_cli
from regauth.config import load_settings
from regauth.errors import ConfigError
from regauth.metrics import MetricRegistry
from regauth.ports import SystemClock
from regauth.runtime import build_policy


@click.group("config")
def command() -> None:
    """Check configuration files."""


@command.command("validate")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@pass_cli
def validate(cli: CliContext, file: str | None) -> None:
    """Validate FILE (default: the active configuration); exit 1 on errors."""
    path = Path(file) if file else cli.config_path
    try:
        settings = load_settings(path, os.environ)
        _, close = build_policy(settings, SystemClock(), MetricRegistry())
        anyio.run(close)
    except ConfigError as exc:
        for line in str(exc).split("; "):
            click.echo(f"{path}: {line}", err=True)
        raise SystemExit(1) from None
    click.echo(f"{path}: ok ({len(settings.rules)} rules, keys in {settings.keys_dir})")
