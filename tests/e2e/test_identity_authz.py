"""End to end for the authorization engine and the identity sources, with skopeo.

- push with a personal access token; a pull-only token cannot push (issue 3);
- an authorization webhook that answers 403 for one repository blocks pushes there;
- push with an OIDC access token from a real IdP as the password (GitHub-Actions style).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest

from tests.authn.idp_fixture import Idp
from tests.authn.idp_fixture import idp as idp
from tests.authz.webhook_server import Received, WebhookServer
from tests.e2e.conftest import (
    ImageFactory,
    RegauthFactory,
    RegauthServer,
    Registry,
    skopeo_pull,
    skopeo_push,
    unique,
)

pytestmark = pytest.mark.e2e

DENIED = "denied: requested access to the resource is denied"

RULES = """
[[rules]]
group = "dev"
name = "team/**"
actions = ["pull", "push"]

[[rules]]
account = "ci-runner"
name = "ci/**"
actions = ["pull", "push"]
"""


def create_pat(server: RegauthServer, *rules: str) -> str:
    args = ["tokens", "create", "--user", "alice", "--name", "e2e"]
    for rule in rules:
        args += ["--rule", rule]
    out = server.run_cli(*args).stdout.strip().splitlines()
    assert out[-1].startswith("regauth_pat_"), out
    return out[-1]


@pytest.fixture
def team(
    regauth_server: RegauthFactory, registry: Callable[[RegauthServer], Registry]
) -> tuple[RegauthServer, Registry]:
    server = regauth_server(rules_toml=RULES, users=[("alice", "alice-pw", ("dev",))])
    return server, registry(server)


def test_push_with_a_personal_access_token(
    team: tuple[RegauthServer, Registry], oci_image: ImageFactory, tmp_path: Path
) -> None:
    server, reg = team
    token = create_pat(server)
    repo = unique("team/pat")
    pushed = skopeo_push(oci_image(), reg, repo, f"alice:{token}")
    assert pushed.returncode == 0, pushed.stderr
    pulled = skopeo_pull(reg, repo, tmp_path / "out", f"alice:{token}")
    assert pulled.returncode == 0, pulled.stderr


def test_pull_only_token_cannot_push(
    team: tuple[RegauthServer, Registry], oci_image: ImageFactory, tmp_path: Path
) -> None:
    server, reg = team
    repo = unique("team/ro")
    assert skopeo_push(oci_image(), reg, repo, "alice:alice-pw").returncode == 0
    token = create_pat(server, "name=team/**;actions=pull")
    refused = skopeo_push(oci_image(), reg, repo, f"alice:{token}", tag="2")
    assert refused.returncode != 0
    assert DENIED in refused.stderr
    assert skopeo_pull(reg, repo, tmp_path / "out", f"alice:{token}").returncode == 0


@pytest.fixture
def blocking_webhook() -> Iterator[WebhookServer]:
    def respond(request: Received) -> int:
        blocked = request.headers.get("x-registry-namespace", "").startswith("team/blocked")
        return 403 if blocked and request.headers.get("x-registry-action") == "push" else 200

    with WebhookServer(respond) as server:
        yield server


def test_webhook_403_blocks_pushes_to_one_repository(
    regauth_server: RegauthFactory,
    registry: Callable[[RegauthServer], Registry],
    blocking_webhook: WebhookServer,
    oci_image: ImageFactory,
) -> None:
    rules = RULES + (
        f'\n[auth.webhook.gate]\nurl = "{blocking_webhook.url}"\ntimeout_ms = 2000\n'
        '\n[global]\nauthorization_webhook = "gate"\n'
    )
    server = regauth_server(rules_toml=rules, users=[("alice", "alice-pw", ("dev",))])
    reg = registry(server)
    ok = skopeo_push(oci_image(), reg, unique("team/open"), "alice:alice-pw")
    assert ok.returncode == 0, ok.stderr
    refused = skopeo_push(oci_image(), reg, unique("team/blocked"), "alice:alice-pw")
    assert refused.returncode != 0
    assert DENIED in refused.stderr
    actions = {r.headers["x-registry-action"] for r in blocking_webhook.requests}
    assert {"pull", "push"} <= actions
    assert all(r.headers.get("x-registry-username") == "alice" for r in blocking_webhook.requests)


def test_push_with_an_oidc_token_as_the_password(
    regauth_server: RegauthFactory,
    registry: Callable[[RegauthServer], Registry],
    idp: Idp,
    oci_image: ImageFactory,
    tmp_path: Path,
) -> None:
    oidc = (
        f'\n[auth.oidc.ci]\nissuer = "{idp.issuer}"\naudience = "regauth"\n'
        f'discovery_url = "{idp.discovery_url}"\n'
    )
    server = regauth_server(rules_toml=RULES + oidc)
    reg = registry(server)

    async def access_token() -> str:
        return await idp.token()

    token = anyio.run(access_token)
    repo = unique("ci/app")
    pushed = skopeo_push(oci_image(), reg, repo, f"ci-runner:{token}")
    assert pushed.returncode == 0, pushed.stderr
    assert skopeo_pull(reg, repo, tmp_path / "out", f"ci-runner:{token}").returncode == 0
    elsewhere = skopeo_push(oci_image(), reg, unique("team/x"), f"ci-runner:{token}")
    assert elsewhere.returncode != 0
    assert DENIED in elsewhere.stderr


API_KEY = "regauth_ak_e2e-0123456789abcdef"


def test_pull_with_an_api_key(
    regauth_server: RegauthFactory,
    registry: Callable[[RegauthServer], Registry],
    oci_image: ImageFactory,
    tmp_path: Path,
) -> None:
    import hashlib

    fingerprint = "sha256:" + hashlib.sha256(API_KEY.encode()).hexdigest()
    keys = (
        '\n[[auth.api_keys]]\nid = "puller"\nhash_env = "E2E_PULLER_KEY_HASH"\n'
        'rules = [{ name = "team/**", actions = ["pull"] }]\n'
        '\n[[rules]]\naccount = "puller"\nname = "**"\nactions = ["pull", "push"]\n'
    )
    server = regauth_server(
        rules_toml=RULES + keys,
        users=[("alice", "alice-pw", ("dev",))],
        env={"E2E_PULLER_KEY_HASH": fingerprint},
    )
    reg = registry(server)
    repo = unique("team/keyed")
    assert skopeo_push(oci_image(), reg, repo, "alice:alice-pw").returncode == 0
    pulled = skopeo_pull(reg, repo, tmp_path / "out", f"puller:{API_KEY}")
    assert pulled.returncode == 0, pulled.stderr
    refused = skopeo_push(oci_image(), reg, repo, f"puller:{API_KEY}", tag="2")
    assert refused.returncode != 0  # the key's own rules allow pull only
    assert DENIED in refused.stderr
    wrong = skopeo_pull(reg, repo, tmp_path / "out2", "puller:regauth_ak_wrong")
    assert wrong.returncode != 0
    assert "invalid username/password" in wrong.stderr
