"""A real HTTP(S) server standing in for an authorization webhook in tests.

It listens on a free port of 127.0.0.1, records every request, answers with
the status ``respond(request)`` returns, optionally after ``delay`` seconds,
and with ``tls`` set speaks HTTPS (the context decides whether a client
certificate is required). :meth:`WebhookServer.stop` joins every thread and
closes every socket, so no ResourceWarning escapes a test.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


@dataclass(frozen=True)
class Received:
    """One request as the webhook saw it; ``headers`` has lower-case names."""

    path: str
    headers: dict[str, str]
    raw_headers: tuple[tuple[str, str], ...]


Responder = Callable[[Received], int]


def always(status: int) -> Responder:
    return lambda _request: status


class WebhookServer:
    def __init__(
        self,
        respond: Responder | None = None,
        *,
        delay: float = 0.0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.respond = respond or always(200)
        self.delay = delay
        self.tls = tls
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}/authorize"

    @property
    def calls(self) -> int:
        with self._lock:
            return len(self.requests)

    def start(self) -> WebhookServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        with self._lock:
            for conn in self._connections:
                _hang_up(conn)
        self._server.server_close()  # joins the handler threads
        self._thread.join()

    def __enter__(self) -> WebhookServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def record(self, request: Received) -> None:
        with self._lock:
            self.requests.append(request)

    def pause(self) -> None:
        """Wait ``delay`` seconds, or less when the server is stopping."""
        if self.delay:
            self._stopping.wait(self.delay)

    def track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)


def _hang_up(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # so server_close() joins the handler threads
    block_on_close = True

    def __init__(self, owner: WebhookServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def finish_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        conn = request
        self.owner.track(request, True)
        try:
            if self.owner.tls is not None:
                # Handshake in the handler thread: a failing client does not stall accept().
                conn = self.owner.tls.wrap_socket(request, server_side=True)
                self.owner.track(conn, True)
            super().finish_request(conn, client_address)
        except (ssl.SSLError, ConnectionError):
            pass  # a refused client certificate or a client hanging up
        finally:
            self.owner.track(request, False)
            self.owner.track(conn, False)
            if conn is not request:
                conn.close()

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that went away mid-answer (e.g. after its timeout) is expected


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real webhook would
    server: _Server

    def do_GET(self) -> None:
        owner = self.server.owner
        raw = tuple((k, v) for k, v in self.headers.items())
        received = Received(self.path, {k.lower(): v for k, v in raw}, raw)
        owner.record(received)
        owner.pause()
        status = owner.respond(received)
        body = b"decided\n"
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass
