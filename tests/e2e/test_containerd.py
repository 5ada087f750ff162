"""containerd's ``ctr`` against regauth + docker-registry: the OAuth2 ``POST /token`` flow.

containerd tries ``POST /token`` with ``grant_type=password`` first (and only falls back to
GET + Basic on 400/401/404), so a successful authenticated ``ctr`` pull and push proves the
POST flow; ``--http-dump`` lets the test see the POST itself.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import (
    Containerd,
    Launcher,
    RegauthServer,
    Registry,
    describe,
    skopeo_pull,
    skopeo_push,
    unique,
)
from tests.e2e.oci import OciImage, build_oci_image, read_layer_file

pytestmark = pytest.mark.e2e

ALICE = ("alice", "alice-pw")
BOB = ("bob", "bob-pw")
CAROL = ("carol", "carol-pw")  # only sent with a wrong password (login throttling)

RULES = """
[[rules]]
account = "alice"
name = "team/**"
actions = ["pull", "push"]
comment = "a writer"

[[rules]]
account = "bob"
name = "team/**"
actions = ["pull"]
comment = "a reader"

[[rules]]
account = "carol"
name = "team/**"
actions = ["pull"]
comment = "a reader who mistypes her password"
"""


@dataclass
class Stack:
    server: RegauthServer
    registry: Registry
    image: OciImage
    repository: str

    @property
    def ref(self) -> str:
        return self.registry.ref(self.repository)


@pytest.fixture(scope="module")
def stack(module_launcher: Launcher, tmp_path_factory: pytest.TempPathFactory) -> Stack:
    """regauth + registry, with one image pushed by skopeo (GET flow) to pull with ctr."""
    server = module_launcher.regauth(
        rules_toml=RULES, users=[(*ALICE, []), (*BOB, []), (*CAROL, [])]
    )
    registry = module_launcher.registry(server)
    image = build_oci_image(tmp_path_factory.mktemp("oci"))
    repository = unique("team/app")
    pushed = skopeo_push(image, registry, repository, ":".join(ALICE))
    assert pushed.returncode == 0, describe(pushed)
    return Stack(server, registry, image, repository)


@pytest.fixture
def ctr(containerd: Containerd) -> Iterator[Containerd]:
    """The module's containerd, left without images after each test (else pulls are skipped)."""
    yield containerd
    listed = containerd.ctr("images", "ls", "--quiet", check=True)
    refs = listed.stdout.split()
    if refs:
        containerd.ctr("images", "rm", "--sync", *refs, check=True)


def user(credentials: tuple[str, str]) -> list[str]:
    return ["--plain-http", "--user", ":".join(credentials)]


def assert_ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, describe(result)


def test_pull_and_push_with_the_password_grant(
    stack: Stack, ctr: Containerd, tmp_path: Path
) -> None:
    pulled = ctr.ctr("images", "pull", "--http-dump", *user(ALICE), stack.ref)
    assert_ok(pulled)
    dump = pulled.stdout + pulled.stderr
    # containerd asked regauth with the OAuth2 password grant, not GET + Basic.
    assert "POST /token" in dump, describe(pulled)
    assert "GET /token" not in dump, describe(pulled)

    target = unique("team/pushed-by-ctr")
    new_ref = stack.registry.ref(target)
    assert_ok(ctr.ctr("images", "tag", stack.ref, new_ref))
    assert_ok(ctr.ctr("images", "push", *user(ALICE), new_ref))

    check = skopeo_pull(stack.registry, target, tmp_path / "check", ":".join(ALICE))
    assert check.returncode == 0, describe(check)
    content = read_layer_file(tmp_path / "check", "1", stack.image.file_name)
    assert content == stack.image.file_content


def test_wrong_password_fails(stack: Stack, ctr: Containerd) -> None:
    result = ctr.ctr("images", "pull", *user((CAROL[0], "not-" + CAROL[1])), stack.ref)
    assert result.returncode != 0, describe(result)
    assert "401 Unauthorized" in result.stderr, describe(result)
    assert ctr.ctr("images", "ls", "--quiet", check=True).stdout.split() == []


def test_pull_only_user_cannot_push(stack: Stack, ctr: Containerd) -> None:
    assert_ok(ctr.ctr("images", "pull", *user(BOB), stack.ref))

    new_ref = stack.registry.ref(unique("team/bobs"))
    assert_ok(ctr.ctr("images", "tag", stack.ref, new_ref))
    refused = ctr.ctr("images", "push", *user(BOB), new_ref)
    assert refused.returncode != 0, describe(refused)
    assert "insufficient_scope" in refused.stderr, describe(refused)
