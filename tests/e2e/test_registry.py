"""regauth in front of a real Distribution registry (Debian's docker-registry 2.8.2), with skopeo.

skopeo only uses GET /token with Basic credentials (docker's flow). The containerd POST flow
is in ``test_containerd.py``.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import pytest

from tests.e2e.conftest import (
    ImageFactory,
    Launcher,
    RegauthFactory,
    RegauthServer,
    Registry,
    SkopeoRunner,
    describe,
    skopeo_delete,
    skopeo_pull,
    skopeo_push,
    token_header,
    unique,
)
from tests.e2e.oci import OciImage, build_oci_image, read_layer_file

pytestmark = pytest.mark.e2e

DENIED = "denied: requested access to the resource is denied"
BAD_PASSWORD = "unable to retrieve auth token: invalid username/password"

ALICE = ("alice", "alice-pw")  # group dev: pull+push on team/**, push on public/**, catalog
BOB = ("bob", "bob-pw")  # pull only on team/**
DORA = ("dora", "dora-pw")  # everything skopeo asks for on team/**, delete included
# group dev; only ever sent with a wrong password, so login throttling never locks out the
# users that the other tests of the module rely on
CAROL = ("carol", "carol-pw")

SHARED_RULES = """
[[rules]]
account = "bob"
name = "team/**"
actions = ["pull"]
comment = "a reader"

[[rules]]
account = "dora"
name = "team/**"
actions = ["*"]
comment = "skopeo delete asks for repository:X:* first, then pull and delete"

[[rules]]
account = "alice"
name = "public/**"
actions = ["pull", "push"]
comment = "alice publishes public images"

[[rules]]
account = "alice"
type = "registry"
name = "catalog"
actions = ["*"]
comment = "alice may list the catalog"

[[rules]]
group = "dev"
name = "team/**"
actions = ["pull", "push"]
comment = "developers read and write the team namespace"

[[rules]]
anonymous = true
name = "public/**"
actions = ["pull"]
comment = "anyone may pull public images"
"""

WRITER_RULES = """
[[rules]]
account = "alice"
name = "team/**"
actions = ["pull", "push"]
"""


def creds(user: tuple[str, str]) -> str:
    return f"{user[0]}:{user[1]}"


@dataclass
class Stack:
    server: RegauthServer
    registry: Registry


@pytest.fixture(scope="module")
def stack(module_launcher: Launcher) -> Stack:
    """One regauth (ES256, stable CA) and one registry shared by the tests that don't interfere."""
    server = module_launcher.regauth(
        rules_toml=SHARED_RULES,
        users=[(*ALICE, ["dev"]), (*BOB, []), (*DORA, []), (*CAROL, ["dev"])],
    )
    return Stack(server, module_launcher.registry(server))


def assert_ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, describe(result)


def push(image: OciImage, registry: Registry, repository: str, user: tuple[str, str]) -> None:
    assert_ok(skopeo_push(image, registry, repository, creds(user)))


def pull_and_check(
    image: OciImage, registry: Registry, repository: str, dest: Path, user: tuple[str, str] | None
) -> None:
    """Pull ``repository:1`` into an OCI layout and check it is ``image``, byte for byte."""
    assert_ok(skopeo_pull(registry, repository, dest, creds(user) if user else None))
    assert read_layer_file(dest, "1", image.file_name) == image.file_content


def access_of(token: str) -> list[dict[str, object]]:
    claims = jwt.decode(token, options={"verify_signature": False})
    access: list[dict[str, object]] = claims["access"]
    return access


# --------------------------------------------------------------------------- key modes


@pytest.mark.parametrize(
    ("alg", "stable_ca"),
    [
        pytest.param("ES256", True, id="ES256-stable-ca"),
        pytest.param("ES256", False, id="ES256-self-signed"),
        pytest.param("RS256", True, id="RS256-stable-ca"),
        pytest.param("RS256", False, id="RS256-self-signed"),
    ],
)
def test_push_and_pull_round_trip(
    alg: str,
    stable_ca: bool,
    regauth_server: RegauthFactory,
    registry: Callable[[RegauthServer], Registry],
    oci_image: ImageFactory,
    tmp_path: Path,
) -> None:
    server = regauth_server(
        alg=alg, stable_ca=stable_ca, rules_toml=WRITER_RULES, users=[(*ALICE, [])]
    )
    reg = registry(server)
    image = oci_image()
    repository = unique("team/app")

    push(image, reg, repository, ALICE)
    pull_and_check(image, reg, repository, tmp_path / "pulled", ALICE)

    header = token_header(server.token(*ALICE, f"repository:{repository}:pull"))
    assert header["alg"] == alg
    x5c = header["x5c"]
    assert isinstance(x5c, list)
    # stable CA: [leaf, CA] with only the CA in the bundle; otherwise the self-signed leaf.
    assert len(x5c) == (2 if stable_ca else 1)


# --------------------------------------------------------------------------- authorization


def test_pull_only_user_cannot_push_but_can_pull(
    stack: Stack, oci_image: ImageFactory, tmp_path: Path
) -> None:
    image = oci_image()
    repository = unique("team/readonly")
    push(image, stack.registry, repository, ALICE)

    refused = skopeo_push(oci_image(), stack.registry, repository, creds(BOB))
    assert refused.returncode != 0, describe(refused)
    assert DENIED in refused.stderr, describe(refused)

    refused_new = skopeo_push(oci_image(), stack.registry, unique("team/bobs"), creds(BOB))
    assert refused_new.returncode != 0, describe(refused_new)
    assert DENIED in refused_new.stderr, describe(refused_new)

    pull_and_check(image, stack.registry, repository, tmp_path / "pulled", BOB)


@pytest.mark.parametrize("operation", ["push", "pull"])
def test_wrong_password_is_refused(
    operation: str, stack: Stack, oci_image: ImageFactory, tmp_path: Path
) -> None:
    image = oci_image()
    repository = unique("team/wrongpw")
    push(image, stack.registry, repository, ALICE)
    bad = f"{CAROL[0]}:not-{CAROL[1]}"

    if operation == "push":
        result = skopeo_push(oci_image(), stack.registry, repository, bad, tag="2")
    else:
        result = skopeo_pull(stack.registry, repository, tmp_path / "pulled", bad)
    assert result.returncode != 0, describe(result)
    assert BAD_PASSWORD in result.stderr, describe(result)


def test_anonymous_pull_of_a_public_repository(
    stack: Stack, oci_image: ImageFactory, tmp_path: Path
) -> None:
    image = oci_image()
    repository = unique("public/app")
    push(image, stack.registry, repository, ALICE)

    pull_and_check(image, stack.registry, repository, tmp_path / "pulled", None)


def test_anonymous_pull_elsewhere_is_refused(
    stack: Stack, oci_image: ImageFactory, tmp_path: Path
) -> None:
    image = oci_image()
    repository = unique("team/private")
    push(image, stack.registry, repository, ALICE)

    result = skopeo_pull(stack.registry, repository, tmp_path / "pulled", None)
    assert result.returncode != 0, describe(result)
    assert DENIED in result.stderr, describe(result)

    anonymous = stack.server.token(None, None, f"repository:{repository}:pull")
    assert access_of(anonymous) == []


def test_anonymous_push_is_refused(stack: Stack, oci_image: ImageFactory) -> None:
    result = skopeo_push(oci_image(), stack.registry, unique("public/anon"), None)
    assert result.returncode != 0, describe(result)
    assert DENIED in result.stderr, describe(result)


def test_delete(stack: Stack, oci_image: ImageFactory, tmp_path: Path) -> None:
    image = oci_image()
    repository = unique("team/deleteme")
    push(image, stack.registry, repository, ALICE)

    refused = skopeo_delete(stack.registry, repository, creds(BOB))
    assert refused.returncode != 0, describe(refused)
    assert "401 Unauthorized" in refused.stderr, describe(refused)
    pull_and_check(image, stack.registry, repository, tmp_path / "still-there", BOB)

    assert_ok(skopeo_delete(stack.registry, repository, creds(DORA)))
    gone = skopeo_pull(stack.registry, repository, tmp_path / "gone", creds(DORA))
    assert gone.returncode != 0, describe(gone)
    assert "manifest unknown" in gone.stderr, describe(gone)


def test_catalog(stack: Stack, oci_image: ImageFactory) -> None:
    repository = unique("team/listed")
    push(oci_image(), stack.registry, repository, ALICE)
    url = f"{stack.registry.url}/v2/_catalog"

    challenge = httpx.get(url, timeout=10)
    assert challenge.status_code == 401
    assert 'scope="registry:catalog:*"' in challenge.headers["www-authenticate"]

    token = stack.server.token(*ALICE, "registry:catalog:*")
    assert access_of(token) == [{"type": "registry", "name": "catalog", "actions": ["*"]}]
    listed = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert listed.status_code == 200, listed.text
    assert repository in listed.json()["repositories"]

    refused_token = stack.server.token(*BOB, "registry:catalog:*")
    assert access_of(refused_token) == []
    refused = httpx.get(url, headers={"Authorization": f"Bearer {refused_token}"}, timeout=10)
    assert refused.status_code == 401, refused.text
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]


# --------------------------------------------------------------------------- rotation


def test_key_rotation_needs_no_registry_restart(
    regauth_server: RegauthFactory,
    registry: Callable[[RegauthServer], Registry],
    oci_image: ImageFactory,
    tmp_path: Path,
) -> None:
    server = regauth_server(
        alg="ES256",
        stable_ca=True,
        rules_toml=WRITER_RULES,
        users=[(*ALICE, [])],
        env={"REGAUTH_KEYS__RELOAD_INTERVAL": "0.2"},
    )
    reg = registry(server)
    bundle_before = server.bundle.read_bytes()
    before = oci_image()
    repository = unique("team/rotate")
    push(before, reg, repository, ALICE)
    scope = f"repository:{repository}:pull"
    old = token_header(server.token(*ALICE, scope))
    old_jwks = server.jwks_kids()

    server.run_cli("keys", "rotate")

    deadline = time.monotonic() + 15
    new = token_header(server.token(*ALICE, scope))
    while new["x5c"] == old["x5c"] and time.monotonic() < deadline:
        time.sleep(0.1)
        new = token_header(server.token(*ALICE, scope))
    old_x5c, new_x5c = old["x5c"], new["x5c"]
    assert isinstance(old_x5c, list)
    assert isinstance(new_x5c, list)
    assert new_x5c[0] != old_x5c[0], "the running server never picked up the rotated key"
    assert new_x5c[1] == old_x5c[1], "the stable CA must not change"
    assert new["kid"] != old["kid"]
    new_jwks = server.jwks_kids()
    assert old_jwks < new_jwks, "JWKS must publish the new key and keep the previous one"
    assert server.bundle.read_bytes() == bundle_before

    # Same registry process, never restarted: new tokens still verify against the CA.
    assert reg.process.running()
    after = oci_image()
    push(after, reg, repository, ALICE)  # overwrites tag 1
    pull_and_check(after, reg, repository, tmp_path / "after", ALICE)
    other = unique("team/rotated")
    push(before, reg, other, ALICE)
    pull_and_check(before, reg, other, tmp_path / "other", ALICE)


def test_oci_layout_is_valid(skopeo: SkopeoRunner, tmp_path: Path) -> None:
    """The hand-built layout is a real image for skopeo (no registry involved)."""
    image = build_oci_image(tmp_path / "layout")
    result = skopeo("inspect", "--raw", image.ref)
    assert_ok(result)
