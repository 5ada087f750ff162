"""``regauth serve``: migrate, check keys, then serve with granian."""

from __future__ import annotations

import os

import click

from regauth.cli.context import CliContext, pass_cli
from regauth.store import Database


@click.command("serve")
@click.option("--host", default=None, help="Listen address (default: server.host).")
@click.option("--port", default=None, type=int, help="Listen port (default: server.port).")
@click.option(
    "--workers", default=None, type=int, help="Worker processes (default: server.workers)."
)
@pass_cli
def command(cli: CliContext, host: str | None, port: int | None, workers: int | None) -> None:
    """Serve /token, /.well-known/jwks.json, /healthz, /readyz and /metrics."""
    from granian import Granian
    from granian.constants import Interfaces

    settings = cli.settings
    Database(settings.database_url).migrate()
    keyring = cli.key_store().load(settings.keys.kid)  # fail fast on missing or bad keys
    os.environ["REGAUTH_CONFIG"] = str(cli.config_path.resolve())
    server = settings.server
    click.echo(
        f"regauth: serving on http://{host or server.host}:{port or server.port} "
        f"(signing key {keyring.current.key_id}, {keyring.current.alg})",
        err=True,
    )
    Granian(
        "regauth.web.app:app_from_environment",
        address=host or server.host,
        port=port or server.port,
        interface=Interfaces.ASGI,
        workers=workers or server.workers,
        factory=True,
        log_access=False,
        workers_kill_timeout=10,
    ).serve()
