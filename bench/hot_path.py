"""In-process cost of one token request per kind of credential, µs (no HTTP, no load generator).

    python bench/hot_path.py [--requests 400]

Each kind is sent one request at a time straight into the ASGI application as
served (fast path included), with the default configuration on SQLite in a
temporary directory; the figure is the best of five rounds, so it survives a
noisy machine better than a load test. With the audit spool on (the default)
every request also waits for one fsync (nothing to group with at concurrency
1): the difference to ``spool = false`` is the price of the spool's fsync.
``bench/minimal.py`` (one ES256 signature on Starlette, nothing else) is sent
the same anonymous request in the same rounds: the last column is each
kind's ``spool = false`` cost ÷ the minimal endpoint's.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from regauth.config import parse_settings
from regauth.web.app import create_asgi

BIN = Path(sys.executable).parent
SERVICE = "registry.bench"
API_KEY = "regauth_ak_bench-0123456789abcdef"
MINIMAL = "minimal (reference)"
Message = MutableMapping[str, Any]
App = Callable[
    [Message, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]


def _basic(user: str, password: str) -> bytes:
    return b"Basic " + base64.b64encode(f"{user}:{password}".encode())


async def _request(
    app: App, method: str, query: bytes, headers: list[tuple[bytes, bytes]], body: bytes
) -> int:
    status = 0

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": "/token",
        "raw_path": b"/token",
        "query_string": query,
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("x", 80),
    }
    await app(scope, receive, send)
    return status


def _prepare(directory: Path, spool: bool) -> Path:
    env = dict(os.environ, REGAUTH_ADMIN_PASSWORD="bench-admin-pw")
    subprocess.run(
        [str(BIN / "regauth"), "init", "--dir", str(directory), "--service", SERVICE],
        env=env,
        check=True,
        capture_output=True,
    )
    config = directory / "regauth.toml"
    text = config.read_text()
    extra = '[[auth.api_keys]]\nid = "bench"\nhash_env = "BENCH_API_KEY_HASH"\n'
    extra += "" if spool else "[audit]\nspool = false\n"
    rules = (
        '[[rules]]\nanonymous = true\nname = "public/**"\nactions = ["pull"]\n'
        '[[rules]]\naccount = "*"\nname = "${account}/**"\nactions = ["pull", "push"]\n'
    )
    config.write_text(text[: text.index("[[rules]]")] + extra + rules)
    run = [str(BIN / "regauth"), "--config", str(config)]
    subprocess.run(
        [*run, "users", "add", "alice", "--password-stdin"],
        input=b"alice-pw\n",
        check=True,
        capture_output=True,
    )
    return config


async def _burst(
    app: App, request: tuple[str, bytes, list[tuple[bytes, bytes]], bytes], requests: int
) -> float:
    started = time.perf_counter()
    for _ in range(requests):
        status = await _request(app, *request)
        assert status == 200, (request[0], status)
    return (time.perf_counter() - started) / requests * 1e6


def measure(spool: bool, requests: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="regauth-hot-") as name:
        config = _prepare(Path(name), spool)
        run = [str(BIN / "regauth"), "--config", str(config)]
        pat = (
            subprocess.run(
                [*run, "tokens", "create", "--user", "alice"],
                check=True,
                capture_output=True,
                text=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        environ = {"BENCH_API_KEY_HASH": "sha256:" + hashlib.sha256(API_KEY.encode()).hexdigest()}
        settings = parse_settings(config.read_text(), base_dir=config.parent, environ=environ)
        os.environ.update(environ)
        scope_q = f"service={SERVICE}&scope=repository:alice/app:pull,push".encode()
        public_q = f"service={SERVICE}&scope=repository:public/base:pull".encode()
        with TestClient(create_asgi(settings)) as client:
            app: App = client.app
            portal = client.portal
            assert portal is not None
            offline = client.get(
                "/token",
                params={"service": SERVICE, "offline_token": "true", "client_id": "b"},
                headers={"Authorization": _basic("alice", "alice-pw").decode()},
            )
            refresh = offline.json()["refresh_token"]
            form = (
                f"grant_type=refresh_token&service={SERVICE}&scope=repository:alice/app:pull"
                f"&refresh_token={refresh}"
            ).encode()
            kinds: dict[str, tuple[str, bytes, list[tuple[bytes, bytes]], bytes]] = {
                "anonymous": ("GET", public_q, [], b""),
                "basic-login-cached": (
                    "GET",
                    scope_q,
                    [(b"authorization", _basic("alice", "alice-pw"))],
                    b"",
                ),
                "pat-basic": ("GET", scope_q, [(b"authorization", _basic("alice", pat))], b""),
                "api-key-bearer": (
                    "GET",
                    public_q,
                    [(b"authorization", b"Bearer " + API_KEY.encode())],
                    b"",
                ),
                "refresh-grant": (
                    "POST",
                    b"",
                    [(b"content-type", b"application/x-www-form-urlencoded")],
                    form,
                ),
            }
            import minimal

            best: dict[str, float] = {}
            for _ in range(5):
                cost = portal.call(_burst, minimal.app, ("GET", public_q, [], b""), requests)
                best[MINIMAL] = min(best.get(MINIMAL, cost), cost)
                for kind, request in kinds.items():
                    cost = portal.call(_burst, app, request, requests)
                    best[kind] = min(best.get(kind, cost), cost)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--default-only", action="store_true", help="no [audit] section")
    args = parser.parse_args()
    on = measure(True, args.requests)
    off = on if args.default_only else measure(False, args.requests)
    basic, ref = on["basic-login-cached"], off[MINIMAL]
    head = f"{'µs per request':<22}{'default':>10}{'spool off':>11}{'÷ Basic':>9}{'off ÷ min':>11}"
    print(head)
    for kind in off:
        cells = f"{on[kind]:>10.0f}{off[kind]:>11.0f}{on[kind] / basic:>9.2f}"
        print(f"{kind:<22}{cells}{off[kind] / ref:>11.2f}")


if __name__ == "__main__":
    main()
