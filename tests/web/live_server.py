"""A real ``regauth serve`` (granian, N workers) on a free loopback port, stopped by PID.

For the load, fault and hostile-input tests: they need the real HTTP server
(chunked framing, ``Content-Length`` before the body, several worker
processes sharing one database), not the in-process ASGI client.
"""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx2 as httpx
import pytest

SERVICE = "registry.live"
REGAUTH = Path(sys.executable).with_name("regauth")
FAST_PASSWORDS = "[passwords]\ntime_cost = 1\nmemory_cost = 1024\nparallelism = 1\n"
STARTUP_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass
class LiveServer:
    dir: Path
    port: int
    env: dict[str, str]
    popen: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.dir / "serve.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config(self) -> Path:
        return self.dir / "regauth.toml"

    def cli(self, *args: str, stdin: str | None = None) -> str:
        cmd = [str(REGAUTH), "--config", str(self.config), *args]
        done = subprocess.run(
            cmd, input=stdin, env=self.env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, f"{args}: {done.stderr}"
        return done.stdout

    def start(self, workers: int = 2) -> None:
        cmd = [str(REGAUTH), "--config", str(self.config), "serve", "--workers", str(workers)]
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                cmd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            assert self.popen.poll() is None, f"serve exited:\n{self.log_text()}"
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            time.sleep(0.05)
        self.stop()
        pytest.fail(f"regauth serve not ready:\n{self.log_text()}")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        """SIGTERM, wait; then SIGKILL the process group (granian's workers) by its PID."""
        proc = self.popen
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """kill -9 of the server and its workers (the process group it leads)."""
        if self.popen is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(15)


def make_server(
    base: Path,
    *,
    extra: str = "",
    database: str = "",
    rules: str = "",
    users: Sequence[tuple[str, str]] = (),
    env: dict[str, str] | None = None,
) -> LiveServer:
    """Initialise a directory (keys, database, users) without starting the server.

    ``extra`` is appended as whole TOML tables; ``database`` adds keys to ``[database]``.
    """
    base.mkdir(parents=True, exist_ok=True)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("REGAUTH_")}
    environ.update(env or {})
    server = LiveServer(base, free_port(), environ)
    init = ["init", "--dir", str(base), "--service", SERVICE, "--port", str(server.port)]
    done = subprocess.run(
        [str(REGAUTH), *init],
        env=dict(environ, REGAUTH_ADMIN_PASSWORD="admin-live-pw"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    text = server.config.read_text()
    head = text[: text.index("[[rules]]")].replace("[database]\n", "[database]\n" + database)
    server.config.write_text(FAST_PASSWORDS + head + extra + (rules or DEFAULT_RULES))
    for name, password in users:
        server.cli("users", "add", name, "--password-stdin", stdin=password + "\n")
    return server


DEFAULT_RULES = """
[[rules]]
anonymous = true
name = "public/**"
actions = ["pull"]
[[rules]]
account = "*"
name = "${account}/**"
actions = ["pull", "push"]
"""


@contextlib.contextmanager
def running(server: LiveServer, workers: int = 2) -> Iterator[LiveServer]:
    server.start(workers)
    try:
        yield server
    finally:
        server.stop()
