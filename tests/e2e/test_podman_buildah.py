"""podman and buildah (root, vfs storage, no daemon) against docker-registry 2.8.2 + regauth.

Both use the containers/image library, as skopeo does: GET /token with Basic, one
repeated ``scope`` per resource, ``account`` only with credentials, and a login that asks
for no scope. buildah builds its image from a file in the test (``from scratch`` +
``copy`` + ``commit``); podman loads a ``docker save`` archive built in the test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e import logins
from tests.e2e.conftest import (
    Launcher,
    RegauthServer,
    Registry,
    describe,
    require_binary,
    skopeo_push,
    unique,
)
from tests.e2e.dockerd import build_docker_archive
from tests.e2e.logins import ok
from tests.e2e.oci import OciImage
from tests.e2e.token_recorder import Seen, TokenRecorder

pytestmark = pytest.mark.e2e

PODMAN = Path("/usr/bin/podman")
BUILDAH = Path("/usr/bin/buildah")
DENIED = "denied: requested access to the resource is denied"

ALICE = ("alice", "alice-pw")  # pull+push on team/**
BOB = ("bob", "bob-pw")  # pull only on team/**

RULES = """
[[rules]]
account = "alice"
name = "team/**"
actions = ["pull", "push"]

[[rules]]
account = "bob"
name = "team/**"
actions = ["pull"]
"""


@dataclass
class Tool:
    """podman or buildah with private storage (vfs) and a private auth file."""

    binary: Path
    dir: Path
    runroot: Path  # podman refuses a runroot path longer than 50 characters

    def run(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        storage = [
            "--root",
            str(self.dir / "root"),
            "--runroot",
            str(self.runroot),
            "--storage-driver",
            "vfs",
        ]
        if self.binary.name == "podman":
            storage += ["--events-backend", "none", "--cgroup-manager", "cgroupfs"]
        environ = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_AUTH")}
        environ["TMPDIR"] = str(self.dir / "tmp")
        (self.dir / "tmp").mkdir(parents=True, exist_ok=True)
        return subprocess.run(
            [str(self.binary), *storage, *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
            env=environ,
            check=False,
        )

    def login(self, registry: Registry, authfile: Path, user: str, password: str) -> None:
        options = ("--tls-verify=false", "--authfile", str(authfile))
        ok(logins.login(self.run, registry.host, user, password, *options))

    def push(self, image: str, ref: str, authfile: Path) -> subprocess.CompletedProcess[str]:
        return self.run(
            "push", "--tls-verify=false", "--authfile", str(authfile), image, f"docker://{ref}"
        )

    def pull(self, ref: str, authfile: Path) -> subprocess.CompletedProcess[str]:
        self.run("rmi", "--force", ref)
        return self.run("pull", "--tls-verify=false", "--authfile", str(authfile), ref)


@dataclass
class Stack:
    server: RegauthServer
    registry: Registry
    recorder: TokenRecorder


@pytest.fixture(scope="module")
def stack(module_launcher: Launcher) -> Iterator[Stack]:
    server = module_launcher.regauth(rules_toml=RULES, users=[(*ALICE, []), (*BOB, [])])
    recorder = TokenRecorder(server.base_url)
    registry = module_launcher.registry(server, realm=recorder.realm)
    try:
        yield Stack(server, registry, recorder)
    finally:
        recorder.close()


def assert_containers_image_flow(seen: list[Seen], user: str, service: str) -> None:
    """GET only, Basic credentials, ``account`` = the user, the registry's service."""
    assert seen
    for request in seen:
        assert request.method == "GET", request.describe()
        assert request.auth_scheme == "Basic", request.describe()
        assert request.first("account") == user and request.first("service") == service


def assert_login_asks_no_scope(stack: Stack, mark: int, user: str) -> None:
    [login] = stack.recorder.since(mark)
    assert login.status == 200 and "scope" not in login.params(), login.describe()
    assert_containers_image_flow([login], user, stack.server.service)


def stored_password_kept(authfile: Path, registry: Registry) -> bool:
    entry = json.loads(authfile.read_text())["auths"][registry.host]
    return "auth" in entry and "identitytoken" not in entry


ToolFactory = Callable[[Path], Tool]


@pytest.fixture
def tool(tmp_path: Path) -> Iterator[ToolFactory]:
    """``tool(binary)`` → a Tool with storage under tmp_path and a short runroot in /tmp."""
    runroots: list[str] = []

    def make(binary: Path) -> Tool:
        runroots.append(tempfile.mkdtemp(prefix="regauth-run-", dir="/tmp"))
        return Tool(require_binary(binary), tmp_path / binary.name, Path(runroots[-1]))

    try:
        yield make
    finally:
        for path in runroots:
            shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------- buildah


def test_buildah_login_push_pull_and_denied_push(
    stack: Stack, tool: ToolFactory, tmp_path: Path
) -> None:
    buildah = tool(BUILDAH)
    (tmp_path / "hello.txt").write_text(f"hello from buildah {unique('x')}\n")
    container = ok(buildah.run("from", "scratch")).stdout.strip()
    ok(buildah.run("copy", container, str(tmp_path / "hello.txt"), "/hello.txt"))
    image = f"localhost/{unique('e2e/built')}:1"
    ok(buildah.run("commit", "--quiet", container, image))

    authfile = tmp_path / "auth.json"
    mark = stack.recorder.mark()
    buildah.login(stack.registry, authfile, *ALICE)
    assert_login_asks_no_scope(stack, mark, "alice")
    # containers/image keeps the password itself (base64 user:password), no identity token.
    assert stored_password_kept(authfile, stack.registry)

    repository = unique("team/buildah")
    ref = stack.registry.ref(repository)
    mark = stack.recorder.mark()
    ok(buildah.push(image, ref, authfile))
    pushed = stack.recorder.since(mark)
    assert_containers_image_flow(pushed, "alice", stack.server.service)
    assert [f"repository:{repository}:pull,push"] in [s.params()["scope"] for s in pushed]

    mark = stack.recorder.mark()
    ok(buildah.pull(ref, authfile))
    pulled = stack.recorder.since(mark)
    assert_containers_image_flow(pulled, "alice", stack.server.service)
    assert {s.first("scope") for s in pulled} == {f"repository:{repository}:pull"}

    reader = tmp_path / "bob.json"
    buildah.login(stack.registry, reader, *BOB)
    refused = buildah.push(image, stack.registry.ref(repository, "2"), reader)
    assert refused.returncode != 0, describe(refused)
    assert DENIED in refused.stderr, describe(refused)


# --------------------------------------------------------------------------- podman


def test_podman_login_push_pull_and_denied_push(
    stack: Stack, tool: ToolFactory, tmp_path: Path
) -> None:
    podman = tool(PODMAN)
    archive = build_docker_archive(tmp_path / "sample.tar", f"localhost/{unique('e2e/loaded')}:1")
    ok(podman.run("load", "--quiet", "--input", str(archive.path)))

    authfile = tmp_path / "auth.json"
    mark = stack.recorder.mark()
    podman.login(stack.registry, authfile, *ALICE)
    assert_login_asks_no_scope(stack, mark, "alice")
    assert stored_password_kept(authfile, stack.registry)

    repository = unique("team/podman")
    ref = stack.registry.ref(repository)
    mark = stack.recorder.mark()
    ok(podman.push(archive.repo_tag, ref, authfile))
    assert_containers_image_flow(stack.recorder.since(mark), "alice", stack.server.service)

    mark = stack.recorder.mark()
    ok(podman.pull(ref, authfile))
    pulled = stack.recorder.since(mark)
    assert_containers_image_flow(pulled, "alice", stack.server.service)
    assert {s.first("scope") for s in pulled} == {f"repository:{repository}:pull"}
    listed = ok(podman.run("image", "exists", ref))
    assert listed.returncode == 0

    reader = tmp_path / "bob.json"
    podman.login(stack.registry, reader, *BOB)
    refused = podman.push(archive.repo_tag, stack.registry.ref(unique("team/bobs")), reader)
    assert refused.returncode != 0, describe(refused)
    assert DENIED in refused.stderr, describe(refused)


# --------------------------------------------------------------------------- README sample


def test_the_readme_sample_image_loads_and_pushes(
    stack: Stack, tool: ToolFactory, tmp_path: Path
) -> None:
    """examples/sample-image.py (the README's walkthrough) writes images the tools accept."""
    script = Path(__file__).resolve().parents[2] / "examples" / "sample-image.py"
    ok(
        subprocess.run(
            [sys.executable, str(script), str(tmp_path / "sample")],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    )
    podman = tool(PODMAN)
    ok(podman.run("load", "--quiet", "--input", str(tmp_path / "sample" / "sample.tar")))
    ok(podman.run("image", "exists", "regauth/sample:1"))
    pushed = skopeo_push(
        OciImage(tmp_path / "sample" / "oci", "1", "", "", "hello.txt", b""),
        stack.registry,
        unique("team/sample"),
        ":".join(ALICE),
    )
    assert pushed.returncode == 0, describe(pushed)
