"""Two `regauth serve` replicas sharing only one PostgreSQL, behind one realm.

The replicas have separate directories and no keys directory at all: the
signing keys live in the database (``keys.store = "database"``), sealed with a
key-encryption key given to each process in ``REGAUTH_KEK``. A round-robin TCP
proxy is the registry's single realm, so skopeo's token requests alternate
between the replicas. What the README promises is checked here: a change made
through one replica reaches the other within ``database.cache_seconds`` (a
disabled user, a lock-out) or ``keys.reload_interval`` (a rotated key).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import jwt
import pytest

from regauth.keys.sealing import KeyEncryptionKey
from tests.e2e.conftest import (
    FAST_PASSWORDS,
    HOST,
    ISSUER,
    SERVICE,
    ImageFactory,
    Launcher,
    RegauthServer,
    Registry,
    basic_auth,
    describe,
    free_port,
    regauth_executable,
    run_regauth,
    skopeo_pull,
    skopeo_push,
    start_process,
    unique,
    wait_until,
)
from tests.e2e.proxy import RoundRobinProxy

pytestmark = pytest.mark.e2e

CACHE_SECONDS = 1.0
RELOAD_INTERVAL = 0.5
MAX_ACCOUNT_FAILURES = 3
# Scheduling slack on a busy 2-core machine, on top of the documented bound.
SLACK = 3.0

RULES = """
[[rules]]
account = "*"
name = "${account}/**"
actions = ["pull", "push"]
[[rules]]
group = "dev"
name = "team/**"
actions = ["pull", "push"]
"""


def config_text(database_url: str, realm: str) -> str:
    return (
        f'[token]\nissuer = "{ISSUER}"\nservices = ["{SERVICE}"]\nrealm = "{realm}"\n\n'
        f'[keys]\nstore = "database"\nreload_interval = {RELOAD_INTERVAL}\n\n'
        f'[database]\nurl = "{database_url}"\ncache_seconds = {CACHE_SECONDS}\n\n'
        f"[auth.throttle]\nmax_failures_per_account = {MAX_ACCOUNT_FAILURES}\n\n"
        f"{FAST_PASSWORDS}{RULES}"
    )


class Cluster:
    """Replicas A and B, the proxy in front of them, and the KEK they share."""

    def __init__(self, launcher: Launcher, database_url: str) -> None:
        self.kek = KeyEncryptionKey.generate_text()
        ports = [free_port(), free_port()]
        self.proxy = RoundRobinProxy([(HOST, p) for p in ports])
        launcher.started.append(self.proxy.close)
        self.replicas: list[RegauthServer] = []
        for name, port in zip("ab", ports, strict=True):
            directory = launcher.base / f"replica-{name}"
            directory.mkdir()
            text = config_text(database_url, f"{self.proxy.url}/token")
            (directory / "regauth.toml").write_text(text, encoding="utf-8")
            self.replicas.append(RegauthServer(directory, port, "ES256", True))
        self.front = RegauthServer(self.replicas[0].dir, self.proxy.port, "ES256", True)
        self.cli("keys", "ca")
        self.cli("keys", "generate")
        self.cli("keys", "export-bundle", str(self.front.bundle))
        for server in self.replicas:
            self._serve(launcher, server)

    def cli(self, *args: str, replica: int = 0, input: str | None = None) -> str:
        config = str(self.replicas[replica].config)
        return run_regauth("--config", config, *args, input=input, REGAUTH_KEK=self.kek).stdout

    def _serve(self, launcher: Launcher, server: RegauthServer) -> None:
        argv: list[str | Path] = [
            regauth_executable(),
            "--config",
            server.config,
            "serve",
            "--port",
            str(server.port),
        ]
        server.process = start_process(
            f"regauth serve replica {server.dir.name}",
            argv,
            server.dir / "serve.log",
            REGAUTH_KEK=self.kek,
        )
        launcher.started.append(server.stop)

        def healthy() -> bool:
            return httpx.get(f"{server.base_url}/healthz", timeout=2).status_code == 200

        wait_until(server.process, healthy, "200 from /healthz")

    def add_user(self, name: str, password: str, *groups: str) -> None:
        args = ["users", "add", name, "--password-stdin"]
        for group in groups:
            args += ["--group", group]
        self.cli(*args, input=password + "\n")


@pytest.fixture
def cluster(launcher: Launcher, postgres_url: str) -> Cluster:
    return Cluster(launcher, postgres_url)


@pytest.fixture
def registry(launcher: Launcher, cluster: Cluster) -> Registry:
    return launcher.registry(cluster.front)


def wait_for(condition: Callable[[], bool], within: float) -> float:
    """Seconds until ``condition()`` held; fails the test after ``within`` seconds."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > within:
            pytest.fail(f"not reached within {within} s", pytrace=False)
        time.sleep(0.05)
    return time.monotonic() - start


def status(server: RegauthServer, user: str, password: str) -> int:
    return server.token_response(user, password, "repository:team/app:pull").status_code


def current_kid(server: RegauthServer) -> str:
    token = server.token("bob", "bob-pw", "repository:team/app:pull")
    return str(jwt.get_unverified_header(token)["kid"])


def push_and_pull(
    registry: Registry, oci_image: ImageFactory, tmp_path: Path, creds: str, repository: str
) -> None:
    pushed = skopeo_push(oci_image(), registry, repository, creds)
    assert pushed.returncode == 0, describe(pushed)
    pulled = skopeo_pull(registry, repository, tmp_path / unique("pull"), creds)
    assert pulled.returncode == 0, describe(pulled)


def test_replicas_share_users_keys_and_lockouts(
    cluster: Cluster, registry: Registry, oci_image: ImageFactory, tmp_path: Path
) -> None:
    a, b = cluster.replicas
    cluster.add_user("alice", "alice-pw", "dev")
    cluster.add_user("bob", "bob-pw", "dev")
    cluster.add_user("carol", "carol-pw", "dev")

    # Both replicas serve skopeo through the one realm, with the same key from the database.
    push_and_pull(registry, oci_image, tmp_path, "alice:alice-pw", unique("team/app"))
    assert all(count > 0 for count in cluster.proxy.connections), cluster.proxy.connections
    first_kid = current_kid(a)
    assert current_kid(b) == first_kid

    # A user disabled through replica A is refused by replica B within cache_seconds.
    assert status(b, "alice", "alice-pw") == 200
    cluster.cli("users", "disable", "alice", replica=0)
    took = wait_for(lambda: status(b, "alice", "alice-pw") == 401, CACHE_SECONDS + SLACK)
    assert took <= CACHE_SECONDS + SLACK
    refused = skopeo_pull(registry, unique("team/app"), tmp_path / unique("p"), "alice:alice-pw")
    assert refused.returncode != 0, describe(refused)

    # A key rotated through replica B is used by both within reload_interval.
    cluster.cli("keys", "rotate", replica=1)
    wait_for(lambda: current_kid(a) != first_kid, RELOAD_INTERVAL + SLACK)
    wait_for(lambda: current_kid(b) != first_kid, RELOAD_INTERVAL + SLACK)
    assert current_kid(a) == current_kid(b)
    jwks = httpx.get(f"{b.base_url}/.well-known/jwks.json", timeout=10).json()
    assert len(jwks["keys"]) == 2  # the retired key still verifies tokens it signed
    push_and_pull(registry, oci_image, tmp_path, "bob:bob-pw", unique("team/app"))

    # A lock-out counted on replica A holds on replica B.
    for _ in range(MAX_ACCOUNT_FAILURES):
        assert status(a, "carol", "wrong") == 401
    took = wait_for(lambda: status(b, "carol", "carol-pw") == 429, CACHE_SECONDS + SLACK)
    assert took <= CACHE_SECONDS + SLACK
    locked = a.token_response("carol", "carol-pw", "repository:team/app:pull")
    assert locked.status_code == 429
    assert "carol-pw" not in locked.text

    # Nothing of the key material is in either replica's directory.
    for server in cluster.replicas:
        assert not (server.dir / "keys").exists()
    header = {"Authorization": basic_auth("bob", "bob-pw")}
    assert httpx.get(f"{cluster.proxy.url}/healthz", headers=header, timeout=5).status_code == 200
