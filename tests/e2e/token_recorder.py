"""A recording reverse proxy in front of regauth's ``/token``, to see what clients send.

The registry's ``auth.token.realm`` points at the recorder, which forwards every request
unchanged to regauth and keeps, per request: the method, the query and form parameters
(in the order sent), the Authorization scheme (never its value) and the status regauth
answered. Tests assert on that to pin each client's token flow (GET with Basic, POST with
``grant_type=password`` or ``grant_type=refresh_token``, ...).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import httpx

HOP_HEADERS = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})


@dataclass(frozen=True)
class Seen:
    """One request to /token as a client sent it."""

    method: str
    query: tuple[tuple[str, str], ...]
    form: tuple[tuple[str, str], ...]
    auth_scheme: str  # "Basic", "Bearer" or "" (the credential itself is not kept)
    content_type: str
    status: int

    def params(self) -> dict[str, list[str]]:
        """Query and form parameters by name (repeated names keep every value)."""
        merged: dict[str, list[str]] = {}
        for key, value in (*self.query, *self.form):
            merged.setdefault(key, []).append(value)
        return merged

    def first(self, name: str) -> str | None:
        values = self.params().get(name)
        return values[0] if values else None

    def describe(self, secrets: tuple[str, ...] = ("password", "refresh_token")) -> str:
        """``POST form client_id=docker grant_type=refresh_token refresh_token=… → 200``."""

        def show(pairs: tuple[tuple[str, str], ...]) -> str:
            return " ".join(f"{k}={'…' if k in secrets else v}" for k, v in pairs)

        parts = [self.method]
        if self.query:
            parts.append(f"query {show(self.query)}")
        if self.form:
            parts.append(f"form {show(self.form)}")
        if self.auth_scheme:
            parts.append(f"Authorization: {self.auth_scheme}")
        return " ".join(parts) + f" → {self.status}"


class TokenRecorder:
    """``realm`` to give the registry; ``seen`` lists the requests, oldest first."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self._seen: list[Seen] = []
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=30)
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                recorder._forward(self)

            def do_POST(self) -> None:
                recorder._forward(self)

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        port: int = self._server.server_address[1]
        return port

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def seen(self) -> list[Seen]:
        with self._lock:
            return list(self._seen)

    def mark(self) -> int:
        """The number of requests so far: ``since(mark)`` lists only the later ones."""
        with self._lock:
            return len(self._seen)

    def since(self, mark: int) -> list[Seen]:
        with self._lock:
            return list(self._seen[mark:])

    def __iter__(self) -> Iterator[Seen]:
        return iter(self.seen())

    def _forward(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        split = urlsplit(handler.path)
        content_type = handler.headers.get("Content-Type", "")
        form: tuple[tuple[str, str], ...] = ()
        if handler.command == "POST" and content_type.startswith(
            "application/x-www-form-urlencoded"
        ):
            form = tuple(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        headers = {
            k: v
            for k, v in handler.headers.items()
            if k.lower() not in HOP_HEADERS and k.lower() != "host"
        }
        try:
            response = self._client.request(
                handler.command, self.upstream + handler.path, content=body, headers=headers
            )
            status, answer, answer_headers = (
                response.status_code,
                response.content,
                response.headers,
            )
        except httpx.HTTPError:
            status, answer, answer_headers = 502, b"", httpx.Headers()
        authorization = handler.headers.get("Authorization", "")
        seen = Seen(
            method=handler.command,
            query=tuple(parse_qsl(split.query, keep_blank_values=True)),
            form=form,
            auth_scheme=authorization.partition(" ")[0],
            content_type=content_type,
            status=status,
        )
        with self._lock:
            self._seen.append(seen)
        handler.send_response(status)
        for key, value in answer_headers.items():
            if key.lower() not in HOP_HEADERS and key.lower() not in ("date", "server"):
                handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(answer)))
        handler.end_headers()
        handler.wfile.write(answer)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()
