"""A real webhook receiver on loopback that verifies every signature and counts events by id.

The verification is written independently of regauth's own code (the way a
receiver would, see the README): HMAC-SHA256 of ``"<t>.<body>"`` with the
shared secret, compared in constant time, timestamp within five minutes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def valid(secret: bytes, header: str, body: bytes, now: float, tolerance: int = 300) -> bool:
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    t, v1 = parts.get("t", ""), parts.get("v1", "")
    if not t.isdigit() or abs(now - int(t)) > tolerance:
        return False
    expected = hmac.new(secret, t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, v1)


class Receiver:
    def __init__(
        self, secret: bytes, port: int, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None
    ) -> None:
        self.secret = secret
        self.tls = tls
        self.host, self.port = host, port
        self.counts: Counter[str] = Counter()  # accepted deliveries by event id
        self.types: dict[str, str] = {}
        self.documents: dict[str, dict[str, Any]] = {}
        self.bad_signatures = 0
        self.mismatched_ids = 0
        self.status = 200  # what to answer (500 to make deliveries fail)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{self.host}:{self.port}/hook"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.handle(
                    self.headers.get("X-Regauth-Signature", ""),
                    self.headers.get("X-Regauth-Event-Id", ""),
                    body,
                )
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        if self.tls is not None:  # a failed handshake is an OSError the server shrugs off
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def handle(self, signature: str, event_id: str, body: bytes) -> None:
        with self._lock:
            if not valid(self.secret, signature, body, time.time()):
                self.bad_signatures += 1
                return
            document = json.loads(body)
            if document["id"] != event_id:
                self.mismatched_ids += 1
            if self.status == 200:
                self.counts[event_id] += 1
                self.types[event_id] = document["type"]
                self.documents[event_id] = document

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def wait_for(self, ids: set[str], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if ids <= set(self.counts):
                    return True
            time.sleep(0.05)
        return False

    def by_type(self, type: str) -> list[dict[str, Any]]:
        with self._lock:
            return [d for i, d in self.documents.items() if self.types[i] == type]

    def wait_for_type(self, type: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.by_type(type):
                return True
            time.sleep(0.05)
        return False

    def wait_for_registry_ids(self, ids: set[str], timeout: float) -> bool:
        """Until every registry notification id in ``ids`` arrived (``data.id``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                seen = {str(d["data"]["id"]) for d in self.documents.values()}
            if ids <= seen:
                return True
            time.sleep(0.1)
        return False
