"""Shared fixtures: a frozen clock, fast password hashing, a prepared instance, an app client."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest
from starlette.testclient import TestClient

from regauth.authn.passwords import PasswordHasher
from regauth.config import Settings, parse_settings
from regauth.keys import Algorithm, KeyStore
from regauth.store import Database, UserStore
from regauth.web.app import create_asgi

FAST_PASSWORDS = "[passwords]\ntime_cost = 1\nmemory_cost = 1024\nparallelism = 1\n"
# Tests change users, tokens and rules and expect the next request to see it at once;
# the read caches (database.cache_seconds) have tests of their own.
NO_READ_CACHE = "[database]\ncache_seconds = 0\n"


@dataclass
class FrozenClock:
    at: datetime = field(default_factory=lambda: datetime(2026, 11, 23, 12, 0, tzinfo=UTC))

    def now(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@dataclass
class Instance:
    """A regauth directory with keys, a migrated database and some users."""

    dir: Path
    settings: Settings
    clock: FrozenClock

    def add_user(self, name: str, password: str | None, groups: tuple[str, ...] = ()) -> None:
        async def main() -> None:
            db = Database(self.settings.database_url)
            try:
                hashed = FAST_HASHER.hash(password) if password is not None else None
                await UserStore(db, self.clock).add(name, hashed, groups=groups)
            finally:
                await db.dispose()

        anyio.run(main)

    def client(self) -> TestClient:
        app = create_asgi(self.settings, clock=self.clock)
        return TestClient(app, base_url="http://testserver")


FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)

DEFAULT_RULES = """
[[rules]]
account = "admin"
name = "**"
actions = ["*"]
[[rules]]
account = "admin"
type = "registry"
name = "catalog"
actions = ["*"]
[[rules]]
account = "alice"
name = "secret/**"
actions = []
deny = true
comment = "explicit deny"
[[rules]]
account = "*"
name = "${account}/**"
actions = ["pull", "push"]
[[rules]]
group = "dev"
name = "team/**"
actions = ["pull", "push"]
[[rules]]
anonymous = true
name = "public/**"
actions = ["pull"]
"""


def make_instance(
    tmp_path: Path,
    clock: FrozenClock,
    *,
    extra: str = "",
    top: str = "",
    token_extra: str = "",
    rules: str = DEFAULT_RULES,
    alg: str = "ES256",
    stable_ca: bool = True,
) -> Instance:
    text = (
        f'{top}\n[token]\nissuer = "test-issuer"\nservices = ["registry.test"]\n{token_extra}\n'
        f'[keys]\nalg = "{alg}"\nstable_ca = {str(stable_ca).lower()}\nreload_interval = 0.1\n'
        f"{FAST_PASSWORDS}{NO_READ_CACHE}{extra}{rules}"
    )
    (tmp_path / "regauth.toml").write_text(text, encoding="utf-8")
    settings = parse_settings(text, base_dir=tmp_path, environ={})
    store = KeyStore(settings.keys_dir, clock)
    if stable_ca:
        store.create_ca(Algorithm(alg))
    store.generate(Algorithm(alg))
    Database(settings.database_url).migrate()
    return Instance(tmp_path, settings, clock)


@pytest.fixture
def instance(tmp_path: Path, clock: FrozenClock) -> Instance:
    inst = make_instance(tmp_path, clock)
    inst.add_user("alice", "alice-pw")
    inst.add_user("bob", "bob-pw", ("dev",))
    inst.add_user("admin", "admin-pw")
    return inst


@pytest.fixture
def client(instance: Instance) -> Iterator[TestClient]:
    with instance.client() as c:
        yield c
