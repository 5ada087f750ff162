"""The docker CLI and a private dockerd against docker-registry 2.8.2 + regauth.

docker's token flow differs from skopeo's: ``docker login`` asks for an offline token
(``GET /token?…&offline_token=true`` with Basic) and keeps the returned refresh token as
``identitytoken`` in its config instead of the password; every later push and pull sends
``POST /token`` with ``grant_type=refresh_token``. A recording proxy between the registry
and regauth shows each request; regauth's audit shows which credential was used.
"""

from __future__ import annotations

import base64
import functools
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from tests.e2e import logins
from tests.e2e.conftest import Launcher, RegauthServer, Registry, describe, unique
from tests.e2e.dockerd import DockerArchive, Dockerd, build_docker_archive
from tests.e2e.logins import ok
from tests.e2e.token_recorder import Seen, TokenRecorder

pytestmark = pytest.mark.e2e

AUDIT_WAIT = 10.0
DENIED = "denied: requested access to the resource is denied"

ALICE = ("alice", "alice-pw")  # pull+push on team/** and public/**
BOB = ("bob", "bob-pw")  # pull only on team/**
ERIN = ("erin", "erin-pw")  # pull+push on erin/** (the revocation test's own user)

RULES = """
[[rules]]
account = "alice"
name = "team/**"
actions = ["pull", "push"]

[[rules]]
account = "alice"
name = "public/**"
actions = ["pull", "push"]

[[rules]]
account = "bob"
name = "team/**"
actions = ["pull"]

[[rules]]
account = "erin"
name = "erin/**"
actions = ["pull", "push"]

[[rules]]
anonymous = true
name = "public/**"
actions = ["pull"]
"""


@dataclass
class Stack:
    server: RegauthServer
    registry: Registry
    recorder: TokenRecorder
    daemon: Dockerd
    archive: DockerArchive


@pytest.fixture(scope="module")
def stack(
    module_launcher: Launcher, dockerd: Dockerd, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    server = module_launcher.regauth(
        rules_toml=RULES, users=[(*ALICE, []), (*BOB, []), (*ERIN, [])]
    )
    recorder = TokenRecorder(server.base_url)
    registry = module_launcher.registry(server, realm=recorder.realm)
    archive = build_docker_archive(
        tmp_path_factory.mktemp("archive") / "sample.tar", f"regauth-e2e/{unique('sample')}:1"
    )
    loaded = dockerd.docker("load", "-i", str(archive.path))
    assert loaded.returncode == 0, describe(loaded)
    try:
        yield Stack(server, registry, recorder, dockerd, archive)
    finally:
        recorder.close()


def login(stack: Stack, config: Path, user: str, secret: str) -> subprocess.CompletedProcess[str]:
    docker = functools.partial(stack.daemon.docker, config_dir=config)
    return logins.login(docker, stack.registry.host, user, secret)


def tag(stack: Stack, repository: str) -> str:
    ref = stack.registry.ref(repository)
    ok(stack.daemon.docker("tag", stack.archive.repo_tag, ref))
    return ref


def push(stack: Stack, config: Path, ref: str) -> subprocess.CompletedProcess[str]:
    return stack.daemon.docker("push", ref, config_dir=config)


def pull(stack: Stack, config: Path, ref: str) -> subprocess.CompletedProcess[str]:
    """Remove the local copy first, so the layer is fetched from the registry again."""
    stack.daemon.docker("rmi", ref)
    return stack.daemon.docker("pull", ref, config_dir=config)


def stored_auth(stack: Stack, config: Path) -> dict[str, str]:
    entries: dict[str, dict[str, str]] = json.loads((config / "config.json").read_text())["auths"]
    return entries[stack.registry.host]


def audit(stack: Stack, user: str) -> list[dict[str, object]]:
    """The user's audit events, newest first."""
    out = stack.server.run_cli("audit", "list", "--user", user, "--json", "--limit", "500")
    return [orjson.loads(line) for line in out.stdout.splitlines() if line.strip()]


def audit_until(
    stack: Stack, user: str, ready: Callable[[list[dict[str, object]]], bool]
) -> list[dict[str, object]]:
    """Audit events are written in batches (about once a second): poll for a while."""
    deadline = time.monotonic() + AUDIT_WAIT
    while True:
        events = audit(stack, user)
        if ready(events) or time.monotonic() > deadline:
            return events
        time.sleep(0.3)


def refresh_token_ids(stack: Stack, user: str) -> list[str]:
    out = stack.server.run_cli("tokens", "list", "--user", user, "--kind", "refresh").stdout
    return [line.split("\t")[0] for line in out.splitlines() if "\tactive\t" in line]


def token_posts(seen: list[Seen]) -> list[Seen]:
    return [s for s in seen if s.method == "POST"]


# --------------------------------------------------------------------------- login


def test_login_keeps_a_refresh_token_and_push_pull_use_it(stack: Stack, tmp_path: Path) -> None:
    config = tmp_path / "docker-config"
    mark = stack.recorder.mark()
    ok(login(stack, config, *ALICE))

    [asked] = stack.recorder.since(mark)
    assert asked.method == "GET" and asked.auth_scheme == "Basic" and asked.status == 200
    assert asked.params() == {
        "account": ["alice"],
        "client_id": ["docker"],
        "offline_token": ["true"],
        "service": [stack.server.service],
    }

    entry = stored_auth(stack, config)
    assert entry["identitytoken"].startswith("regauth_rt_")
    # docker keeps "alice:" (the user name, no password) next to the identity token.
    assert base64.b64decode(entry["auth"]).decode() == "alice:"
    assert ALICE[1] not in (config / "config.json").read_text()

    repository = unique("team/app")
    ref = tag(stack, repository)
    mark = stack.recorder.mark()
    ok(push(stack, config, ref))
    ok(pull(stack, config, ref))

    posts = token_posts(stack.recorder.since(mark))
    assert posts, "docker sent no POST /token"
    for post in posts:
        params = post.params()
        assert post.status == 200 and post.auth_scheme == ""
        assert params["grant_type"] == ["refresh_token"]
        assert params["client_id"] == ["docker"]
        assert params["refresh_token"] == [entry["identitytoken"]]
        assert params["service"] == [stack.server.service]
    scopes = [post.first("scope") for post in posts]
    assert f"repository:{repository}:push,pull" in scopes
    assert f"repository:{repository}:pull" in scopes

    def mine(events: list[dict[str, object]]) -> list[dict[str, object]]:
        return [e for e in events if repository in str(e["requested"])]

    events = mine(audit_until(stack, "alice", lambda found: len(mine(found)) >= len(posts)))
    assert len(events) == len(posts)
    assert events and {e["source"] for e in events} == {"refresh_token"}
    assert all(e["outcome"] == "issued" for e in events)


def test_pull_only_user_cannot_push(stack: Stack, tmp_path: Path) -> None:
    config = tmp_path / "docker-config"
    ok(login(stack, config, *BOB))
    refused = push(stack, config, tag(stack, unique("team/bobs")))
    assert refused.returncode != 0, describe(refused)
    assert DENIED in refused.stderr + refused.stdout, describe(refused)


def test_anonymous_pull_of_a_public_repository(stack: Stack, tmp_path: Path) -> None:
    writer = tmp_path / "writer"
    ok(login(stack, writer, *ALICE))
    repository = unique("public/base")
    ref = tag(stack, repository)
    ok(push(stack, writer, ref))

    mark = stack.recorder.mark()
    ok(pull(stack, tmp_path / "anonymous", ref))
    seen = stack.recorder.since(mark)
    assert seen and all(s.method == "GET" and s.auth_scheme == "" for s in seen), seen
    assert {s.first("scope") for s in seen} == {f"repository:{repository}:pull"}


def test_revoked_refresh_token_fails_until_the_next_login(stack: Stack, tmp_path: Path) -> None:
    config = tmp_path / "docker-config"
    ok(login(stack, config, *ERIN))
    ref = tag(stack, unique("erin/app"))
    ok(push(stack, config, ref))

    [token_id] = refresh_token_ids(stack, "erin")
    stack.server.run_cli("tokens", "revoke", token_id)

    mark = stack.recorder.mark()
    refused = pull(stack, config, ref)
    assert refused.returncode != 0, describe(refused)
    assert "unauthorized" in refused.stderr, describe(refused)
    [refused_post] = token_posts(stack.recorder.since(mark))
    assert refused_post.status == 401
    assert refused_post.first("grant_type") == "refresh_token"

    ok(login(stack, config, *ERIN))
    assert len(refresh_token_ids(stack, "erin")) == 1
    ok(pull(stack, config, ref))


# --------------------------------------------------------------------------- other secrets


def test_login_with_a_personal_access_token_is_limited_to_its_rules(
    stack: Stack, tmp_path: Path
) -> None:
    readable = unique("team/pat")
    writer = tmp_path / "writer"
    ok(login(stack, writer, *ALICE))
    ref = tag(stack, readable)
    ok(push(stack, writer, ref))

    out = stack.server.run_cli(
        "tokens",
        "create",
        "--user",
        "alice",
        "--name",
        "docker-e2e",
        "--rule",
        f"name={readable};actions=pull",
    )
    pat = out.stdout.strip().splitlines()[-1]
    assert pat.startswith("regauth_pat_")

    config = tmp_path / "pat"
    mark = stack.recorder.mark()
    ok(login(stack, config, "alice", pat))
    [asked] = stack.recorder.since(mark)
    assert asked.first("offline_token") == "true" and asked.status == 200
    # No refresh token for a PAT: docker keeps the PAT itself (as Basic, every time).
    entry = stored_auth(stack, config)
    assert "identitytoken" not in entry
    assert base64.b64decode(entry["auth"]).decode() == f"alice:{pat}"

    ok(pull(stack, config, ref))
    refused = push(stack, config, tag(stack, unique("team/pat-push")))
    assert refused.returncode != 0, describe(refused)
    assert DENIED in refused.stderr + refused.stdout, describe(refused)

    def by_pat(events: list[dict[str, object]]) -> list[dict[str, object]]:
        return [e for e in events if e["source"] == "pat"]

    pat_events = by_pat(audit_until(stack, "alice", lambda found: len(by_pat(found)) >= 3))
    assert pat_events and all(e["source"] == "pat" for e in pat_events)
    assert any(e["outcome"] == "issued" for e in pat_events)


def test_wrong_password_shows_regauths_message(stack: Stack, tmp_path: Path) -> None:
    expected = stack.server.token_response("alice", "not-the-password").json()
    message = expected["details"]
    assert message and message == expected["detail"]

    refused = login(stack, tmp_path / "docker-config", "alice", "not-the-password")
    assert refused.returncode != 0, describe(refused)
    assert f"unauthorized: {message}" in refused.stderr, describe(refused)
    assert "not-the-password" not in refused.stderr + refused.stdout
    assert not (tmp_path / "docker-config" / "config.json").exists() or (
        stack.registry.host not in (tmp_path / "docker-config" / "config.json").read_text()
    )
