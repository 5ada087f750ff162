"""The server-wide metrics directory, and ``/metrics`` on ``server.metrics_listen``.

``regauth serve`` wraps the server in :func:`shared_metrics`: it makes a fresh
directory for this server's metric slot files, names it in
``$REGAUTH_METRICS_DIR`` for the workers (and the workers a SIGHUP respawns),
and removes it when the server stops. With ``server.metrics_listen`` the
serving process itself answers ``GET /metrics`` on that address — summing the
workers' files, so a scrape never depends on which worker is alive — while the
public port no longer serves it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from regauth.config import Settings
from regauth.errors import ConfigError
from regauth.metrics import CONTENT_TYPE
from regauth.metrics.store import ENV
from regauth.web.metrics import Metrics


@contextlib.contextmanager
def shared_metrics(settings: Settings) -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="regauth-metrics-"))
    os.environ[ENV] = str(directory)
    server = _listen(settings, directory) if settings.server.metrics_listen else None
    try:
        yield directory
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        os.environ.pop(ENV, None)
        shutil.rmtree(directory, ignore_errors=True)


def _listen(settings: Settings, directory: Path) -> ThreadingHTTPServer:
    metrics = Metrics(directory, reader=True)
    if settings.auth.webhook:  # declare the webhook families too (their values come from workers)
        from regauth.authz.webhook import WebhookMetrics

        WebhookMetrics(metrics.registry)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            body = metrics.exposition()
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return  # scrapes are not logged

    host, _, port = settings.server.metrics_listen.rpartition(":")
    try:
        server = ThreadingHTTPServer((host.strip("[]"), int(port)), Handler)
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on it: {exc.strerror}", path="server.metrics_listen"
        ) from None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="regauth-metrics", daemon=True).start()
    return server
