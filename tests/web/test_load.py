"""Under load, with two real worker processes: no 5xx, and a locked account stays locked.

Both tests start ``regauth serve --workers 2`` on loopback and are bounded in
time (about 15 s of load, about 8 s of hammering).
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import random
import time
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.web.live_server import SERVICE, LiveServer, basic, make_server, running

# Seconds of load against two workers: run alone, with no other test on the cores.
pytestmark = pytest.mark.serial

API_KEY = "regauth_ak_load-0123456789abcdef"
API_KEYS = '[[auth.api_keys]]\nid = "loader"\nhash_env = "LOAD_API_KEY_HASH"\n'
LOAD_SECONDS = 15.0
CONNECTIONS = 64


@dataclass(frozen=True)
class Shot:
    sent: float
    received: float
    status: int
    right_password: bool


def _api_key_env() -> dict[str, str]:
    return {"LOAD_API_KEY_HASH": "sha256:" + hashlib.sha256(API_KEY.encode()).hexdigest()}


def _refresh_token(server: LiveServer) -> str:
    r = httpx.get(
        server.url + "/token",
        params={"service": SERVICE, "offline_token": "true", "client_id": "load"},
        headers={"Authorization": basic("alice", "alice-pw")},
    )
    assert r.status_code == 200, r.text
    return str(r.json()["refresh_token"])


def test_mixed_traffic_on_two_workers_gets_no_5xx(tmp_path: Path) -> None:
    server = make_server(
        tmp_path / "srv", extra=API_KEYS, users=[("alice", "alice-pw")], env=_api_key_env()
    )
    pat = server.cli("tokens", "create", "--user", "alice").strip().splitlines()[-1]
    with running(server, workers=2):
        refresh = _refresh_token(server)
        pull = {"service": SERVICE, "scope": "repository:alice/app:pull,push"}
        kinds: list[tuple[str, str, dict[str, str], dict[str, str] | None]] = [
            ("basic", "GET", {"Authorization": basic("alice", "alice-pw")}, None),
            ("pat", "GET", {"Authorization": basic("alice", pat)}, None),
            ("api-key", "GET", {"X-Api-Key": API_KEY}, None),
            ("anonymous", "GET", {}, None),
            ("refresh", "POST", {}, {"grant_type": "refresh_token", "refresh_token": refresh}),
            ("wrong", "GET", {"Authorization": basic("mallory", "guess")}, None),
        ]
        statuses: dict[str, collections.Counter[int]] = collections.defaultdict(collections.Counter)

        async def connection(n: int, deadline: float) -> None:
            chooser = random.Random(n)
            limits = httpx.Limits(max_connections=1)
            async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=30) as c:
                while time.monotonic() < deadline:
                    name, method, headers, form = chooser.choice(kinds)
                    if method == "GET":
                        r = await c.get("/token", params=pull, headers=headers)
                    else:
                        r = await c.post("/token", data={**pull, **(form or {})})
                    statuses[name][r.status_code] += 1

        async def load() -> None:
            deadline = time.monotonic() + LOAD_SECONDS
            await asyncio.gather(*(connection(n, deadline) for n in range(CONNECTIONS)))

        asyncio.run(load())
        assert httpx.get(server.url + "/healthz").status_code == 200
        log = server.log_text()
    server_errors = {k: {s: n for s, n in v.items() if s >= 500} for k, v in statuses.items()}
    assert not any(server_errors.values()), f"{server_errors}\n{log[-3000:]}"
    for name in ("basic", "pat", "api-key", "anonymous", "refresh"):
        assert statuses[name][200] > 0, statuses
    assert set(statuses["wrong"]) <= {401, 429}, statuses
    assert "Traceback" not in log, log[-3000:]


LOCK_LIMIT = 5
LOCK_WINDOW = 30
HAMMER_AFTER_LOCK = 6.0


def test_a_locked_account_accepts_no_password_on_any_worker(tmp_path: Path) -> None:
    throttle = (
        f"[auth.throttle]\nmax_failures_per_account = {LOCK_LIMIT}\n"
        f"max_failures_per_address = 0\nwindow = {LOCK_WINDOW}\n"
    )
    server = make_server(tmp_path / "srv", extra=throttle, users=[("carol", "carol-pw")])
    with running(server, workers=2):
        params = {"service": SERVICE}
        for _ in range(8):  # both workers remember carol's login (the cached path)
            r = httpx.get(
                server.url + "/token",
                params=params,
                headers={"Authorization": basic("carol", "carol-pw")},
            )
            assert r.status_code == 200, r.text
        shots: list[Shot] = []
        first_429: list[float] = []

        async def connection(n: int) -> None:
            chooser = random.Random(n)
            started = time.monotonic()
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
                while True:
                    now = time.monotonic()
                    if first_429 and now > first_429[0] + HAMMER_AFTER_LOCK:
                        return
                    if now > started + LOCK_WINDOW / 2:
                        return
                    right = chooser.random() < 0.3
                    password = "carol-pw" if right else f"guess-{chooser.random()}"
                    headers = {"Authorization": basic("carol", password)}
                    sent = time.monotonic()
                    r = await c.get("/token", params=params, headers=headers)
                    received = time.monotonic()
                    if r.status_code == 429 and not first_429:
                        first_429.append(received)
                    shots.append(Shot(sent, received, r.status_code, right))

        async def hammer() -> None:
            await asyncio.gather(*(connection(n) for n in range(16)))

        asyncio.run(hammer())
    assert first_429, "the account was never locked"
    locked_at = first_429[0]
    after = [s for s in shots if s.sent > locked_at]
    assert sum(s.right_password for s in after) >= 20, "too few right passwords after the lock"
    accepted = [s for s in after if s.status == 200]
    assert not accepted, f"{len(accepted)} successes after the first 429"
    assert {s.status for s in after} <= {401, 429}
