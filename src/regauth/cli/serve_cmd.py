"""``regauth serve``: migrate, check keys, then serve.

Plain HTTP is served by granian (the fast path). With ``server.tls_cert`` the
listener is uvicorn instead: granian cannot make client certificates optional
nor show them to the app, and SPEC §3's mTLS identity needs both
(:mod:`regauth.web.tls`, ``docs/mtls.md``).
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

import anyio
import click

from regauth.cli.context import CliContext, pass_cli
from regauth.config import Settings
from regauth.errors import ConfigError
from regauth.ports import SystemClock, SystemRandom
from regauth.runtime import Runtime
from regauth.store import Database
from regauth.web.reload import apply_env_file_for, save_snapshot

APP = "regauth.web.app:app_from_environment"
ADMIN_APP = "regauth.web.app:admin_app_from_environment"


@click.command("serve")
@click.option("--host", default=None, help="Listen address (default: server.host).")
@click.option("--port", default=None, type=int, help="Listen port (default: server.port).")
@click.option(
    "--workers", default=None, type=int, help="Worker processes (default: server.workers)."
)
@pass_cli
def command(cli: CliContext, host: str | None, port: int | None, workers: int | None) -> None:
    """Serve /token, /.well-known/jwks.json, /healthz, /readyz and /metrics."""
    apply_env_file_for(cli.config_path, os.environ)
    settings = cli.settings  # strict: a broken file stops serve (workers may fall back later)
    save_snapshot(cli.config_path)
    Database(settings.database_url).migrate()
    keyring = cli.key_store().load(settings.keys.kid)  # fail fast on missing or bad keys
    anyio.run(_check_start_up, settings)
    os.environ["REGAUTH_CONFIG"] = str(cli.config_path.resolve())
    server = settings.server
    host, port, workers = host or server.host, port or server.port, workers or server.workers
    tls = _tls_files(settings)
    client_auth = ", client certificates optional" if server.client_ca else ""
    click.echo(
        f"regauth: serving on {'https' if tls else 'http'}://{host}:{port}{client_auth} "
        f"(signing key {keyring.current.key_id}, {keyring.current.alg})",
        err=True,
    )
    admin = _start_admin_listener(settings)
    try:
        if tls:
            _serve_tls(tls, host, port, workers)
        else:
            _serve_plain(host, port, workers)
    finally:
        if admin is not None:
            admin.terminate()
            admin.wait(timeout=15)


def _start_admin_listener(settings: Settings) -> subprocess.Popen[bytes] | None:
    """``admin.listen``: the admin API on a listener of its own (a child process, one worker)."""
    address = settings.admin.address if settings.admin.enabled else None
    if address is None:
        return None
    click.echo(f"regauth: admin API on http://{address[0]}:{address[1]}/api/v1", err=True)
    code = "from regauth.cli.serve_cmd import serve_admin; serve_admin()"
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL)


def serve_admin() -> None:
    """The admin listener's process: configuration from ``$REGAUTH_CONFIG``."""
    from granian import Granian
    from granian.constants import Interfaces

    from regauth.config import find_config_path, load_settings

    settings = load_settings(find_config_path(None, os.environ), os.environ)
    host, port = settings.admin.address or ("127.0.0.1", 0)
    Granian(
        ADMIN_APP,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=1,
        factory=True,
        log_access=False,
        workers_kill_timeout=10,
    ).serve()


async def _check_start_up(settings: Settings) -> None:
    """Build everything a worker builds (OIDC discovery, API keys, LDAP, webhooks) once,
    so a bad setting stops ``serve`` with its dotted path instead of failing in workers."""
    runtime = await Runtime.start(settings, SystemClock(), SystemRandom())
    await runtime.close()


TlsFiles = tuple[Path, Path, Path | None]


def _tls_files(settings: Settings) -> TlsFiles | None:
    """(cert, key, client CA) resolved and loaded once here: errors name the setting."""
    server = settings.server
    if server.tls_cert is None or server.tls_key is None:
        return None
    from regauth.web.tls import server_context

    cert, key = settings.path(server.tls_cert), settings.path(server.tls_key)
    client_ca = settings.path(server.client_ca) if server.client_ca else None
    try:
        server_context(cert, key, client_ca)
    except OSError as exc:  # ssl.SSLError included
        raise ConfigError(f"cannot load the TLS files: {exc}", path="server.tls_cert") from None
    return cert, key, client_ca


def _serve_plain(host: str, port: int, workers: int) -> None:
    from granian import Granian
    from granian.constants import Interfaces

    Granian(
        APP,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        factory=True,
        log_access=False,
        workers_kill_timeout=10,
    ).serve()


def _serve_tls(files: TlsFiles, host: str, port: int, workers: int) -> None:
    """uvicorn with :class:`regauth.web.tls.PeerCertificateProtocol` (the TLS extension)."""
    import uvicorn

    from regauth.web.tls import context_factory

    cert, key, _ = files
    uvicorn.run(
        APP,
        host=host,
        port=port,
        workers=workers,
        factory=True,
        http="regauth.web.tls:PeerCertificateProtocol",
        ssl_certfile=cert,  # read by uvicorn only to say "https" in its log
        ssl_keyfile=key,
        ssl_context_factory=functools.partial(context_factory, *files),
        proxy_headers=False,  # regauth applies server.trusted_proxies itself
        server_header=False,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
