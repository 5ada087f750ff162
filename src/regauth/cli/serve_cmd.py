"""``regauth serve``: migrate, check keys, then serve.

Plain HTTP is served by granian (the fast path). With ``server.tls_cert`` the
listener is uvicorn instead: granian cannot make client certificates optional
nor show them to the app, and the mTLS identity needs both
(:mod:`regauth.web.tls`, ``docs/mtls.md``).
"""

from __future__ import annotations

import errno
import fcntl
import functools
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import anyio
import click

from regauth.cli.context import CliContext, pass_cli, sqlite_schema_is_current
from regauth.config import Settings
from regauth.config.model import default_realm
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
    server = settings.server
    host, port, workers = host or server.host, port or server.port, workers or server.workers
    claim = claim_port(host, port)
    if claim is None:
        click.echo(f"regauth: port {port} is in use", err=True)
        raise SystemExit(1)
    save_snapshot(cli.config_path)
    if not sqlite_schema_is_current(settings.database_url):
        # Alembic only when there is something to do: the workers fork from this process.
        Database(settings.database_url).migrate()
    keyring = cli.key_store().load(settings.keys.kid)  # fail fast on missing or bad keys
    anyio.run(_check_start_up, settings)
    if os.environ.get("REGAUTH_ADMIN_PASSWORD"):
        click.echo(anyio.run(_admin_password_note, settings), err=True)
    os.environ["REGAUTH_CONFIG"] = str(cli.config_path.resolve())
    tls = _tls_files(settings)
    client_auth = ", client certificates optional" if server.client_ca else ""
    message = (
        f"regauth: serving on {'https' if tls else 'http'}://{host}:{port}{client_auth} "
        f"(signing key {keyring.current.key_id}, {keyring.current.alg}; "
        f"registries use realm {settings.token.realm or default_realm(host, port, tls=bool(tls))})"
    )
    # Said only once the listener accepts connections, never before.
    threading.Thread(target=_announce, args=(host, port, message), daemon=True).start()
    from regauth.web.metrics_server import shared_metrics

    with shared_metrics(settings):  # one metrics directory for all workers of this server
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


def claim_port(host: str, port: int) -> int | None:
    """Make sure nobody serves on ``port``; a lock fd held for the process's life, or None.

    granian binds with SO_REUSEPORT, so a second server on the same port would bind
    as well and share the connections. Two checks prevent that: an exclusive lock per
    port (two ``serve`` starting at the same moment) and a trial bind without
    SO_REUSEPORT, which fails while any other listener holds the port.
    """
    lock_path = Path(tempfile.gettempdir()) / f"regauth-port-{port}.lock"
    try:
        fd = os.open(lock_path, os.O_RDONLY | os.O_CREAT, 0o644)
    except OSError:
        fd = -1
    if fd >= 0:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is fine
        try:
            probe.bind((host, port))
        except OSError as exc:
            if fd >= 0:
                os.close(fd)
            if exc.errno == errno.EADDRINUSE:
                return None
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return fd


def _announce(host: str, port: int, message: str, timeout: float = 120.0) -> None:
    """Print ``message`` once a TCP connection to the listener succeeds."""
    target = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # noqa: S104
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((target, port), timeout=1):
                click.echo(message, err=True)
                return
        except OSError:
            time.sleep(0.05)


async def _admin_password_note(settings: Settings) -> str:
    """What ``REGAUTH_ADMIN_PASSWORD`` does here: nothing; ``regauth init`` reads it."""
    from regauth.store import UserStore

    db = Database(settings.database_url)
    try:
        exists = await UserStore(db, SystemClock()).get("admin") is not None
    finally:
        await db.dispose()
    if exists:
        return (
            "regauth: REGAUTH_ADMIN_PASSWORD is ignored: the admin user exists already and "
            "keeps its password (change it with `regauth users passwd admin`)"
        )
    return (
        "regauth: REGAUTH_ADMIN_PASSWORD is ignored: serve creates no users "
        "(create the admin with `regauth users add admin --group admins`)"
    )


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
