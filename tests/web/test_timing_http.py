"""A wrong password answers in the same time whatever the account had (no enumeration).

Through ``GET /token`` (the path an attacker times): an argon2id user, a
user imported from htpasswd (bcrypt, ``htpasswd -B``'s default cost 5) and a
user that does not exist, all with a wrong password. Samples are interleaved
so that load on the machine hits every kind alike; the medians must be within
0.8–1.25 of the unknown user's (the dummy argon2id verification).
"""

from __future__ import annotations

import base64
import statistics
import time
from pathlib import Path

import anyio
import bcrypt
import pytest

from regauth.authn.passwords import PasswordHasher
from regauth.config import parse_settings
from regauth.store import Database, UserStore
from tests.conftest import FAST_PASSWORDS, FrozenClock, make_instance

# Medians of timed answers: measured alone, with no other test loading the machine.
pytestmark = pytest.mark.serial

SAMPLES = 60
# Dear enough that the hash, not the HTTP handling, dominates each answer.
PASSWORDS = "[passwords]\ntime_cost = 2\nmemory_cost = 16384\nparallelism = 1\ncache_ttl = 0\n"
NO_THROTTLE = "[auth.throttle]\nmax_failures_per_account = 0\nmax_failures_per_address = 0\n"
USERS = {"argon": "argon2id user", "imported": "bcrypt user", "ghost": "unknown user"}


def _basic(user: str) -> dict[str, str]:
    raw = base64.b64encode(f"{user}:definitely-wrong".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def test_failed_logins_cost_the_same_for_argon2id_bcrypt_and_unknown_users(
    tmp_path: Path, clock: FrozenClock
) -> None:
    instance = make_instance(tmp_path, clock, extra=NO_THROTTLE)
    config = tmp_path / "regauth.toml"
    config.write_text(config.read_text().replace(FAST_PASSWORDS, PASSWORDS))
    settings = instance.settings = parse_settings(config.read_text(), base_dir=tmp_path, environ={})
    p = settings.passwords
    hasher = PasswordHasher(time_cost=p.time_cost, memory_cost=p.memory_cost, parallelism=1)

    async def add_users() -> None:
        db = Database(settings.database_url)
        try:
            users = UserStore(db, clock)
            await users.add("argon", hasher.hash("the argon password"))
            imported = bcrypt.hashpw(b"the bcrypt password", bcrypt.gensalt(rounds=5)).decode()
            await users.add("imported", "$2y$" + imported[4:])
        finally:
            await db.dispose()

    anyio.run(add_users)
    timings: dict[str, list[float]] = {name: [] for name in USERS}
    with instance.client() as client:
        for name in USERS:  # warm-up: caches, first connections
            client.get("/token", params={"service": "registry.test"}, headers=_basic(name))
        for _ in range(SAMPLES):
            for name in USERS:
                started = time.perf_counter()
                r = client.get("/token", params={"service": "registry.test"}, headers=_basic(name))
                timings[name].append(time.perf_counter() - started)
                assert r.status_code == 401, r.text
                assert r.json()["code"] == "auth.invalid_credential"
    medians = {name: statistics.median(values) for name, values in timings.items()}
    reference = medians["ghost"]
    for name, median in medians.items():
        ratio = median / reference
        assert 0.8 <= ratio <= 1.25, f"{USERS[name]}: {median * 1000:.1f} ms, ratio {ratio:.2f}"
