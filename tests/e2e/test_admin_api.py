"""End to end through the admin API: a user, a group rule and a PAT made over HTTP, a skopeo
push with that PAT, the PAT revoked over HTTP, the next push refused; the admin listener."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from tests.e2e.conftest import (
    ADMIN_PASSWORD,
    ImageFactory,
    RegauthFactory,
    RegauthServer,
    Registry,
    free_port,
    skopeo_push,
    unique,
)

pytestmark = pytest.mark.e2e

ADMIN = ("admin", ADMIN_PASSWORD)
DENIED = "denied: requested access to the resource is denied"


def api(server: RegauthServer, method: str, path: str, **kwargs: object) -> httpx.Response:
    return httpx.request(
        method,
        f"{server.base_url}/api/v1{path}",
        auth=ADMIN,
        timeout=10,
        **kwargs,  # type: ignore[arg-type]
    )


def test_user_rule_and_pat_made_over_the_api_then_revoked(
    regauth_server: RegauthFactory,
    registry: Callable[[RegauthServer], Registry],
    oci_image: ImageFactory,
) -> None:
    server = regauth_server()
    reg = registry(server)
    r = api(server, "POST", "/users", json={"name": "dana", "password": "dana-password-1"})
    assert r.status_code == 201, r.text
    r = api(server, "POST", "/groups", json={"name": "deployers"})
    assert r.status_code == 201, r.text
    assert api(server, "PUT", "/groups/deployers/members/dana").status_code == 200
    rule = {"group": "deployers", "name": "deploy/**", "actions": ["pull", "push"]}
    r = api(server, "POST", "/rules", json=rule)
    assert r.status_code == 201, r.text
    r = api(server, "POST", "/users/dana/tokens", json={"name": "ci", "expires_in_days": 1})
    assert r.status_code == 201, r.text
    secret, token_id = r.json()["secret"], r.json()["token"]["id"]

    pushed = skopeo_push(oci_image(), reg, unique("deploy/app"), f"dana:{secret}")
    assert pushed.returncode == 0, pushed.stderr
    outside = skopeo_push(oci_image(), reg, unique("other/app"), f"dana:{secret}")
    assert outside.returncode != 0 and DENIED in outside.stderr

    used = api(server, "GET", "/users/dana/tokens").json()["items"][0]
    assert used["last_used_at"] is not None and used["last_used_addr"] == "127.0.0.1"
    r = api(server, "DELETE", f"/users/dana/tokens/{token_id}")
    assert r.status_code == 200 and r.json()["revoked_at"] is not None

    refused = skopeo_push(oci_image(), reg, unique("deploy/app"), f"dana:{secret}")
    assert refused.returncode != 0
    assert "invalid username/password" in refused.stderr, refused.stderr


def test_admin_listener_keeps_the_api_off_the_public_port(
    regauth_server: RegauthFactory,
) -> None:
    port = free_port()
    server = regauth_server(rules_toml=f'[admin]\nlisten = "127.0.0.1:{port}"\n')
    public = httpx.get(f"{server.base_url}/api/v1/users", auth=ADMIN, timeout=10)
    assert public.status_code == 404 and public.json()["code"] == "request.not_found"
    admin_url = f"http://127.0.0.1:{port}/api/v1"
    for _ in range(100):  # the admin listener starts next to the main one
        try:
            r = httpx.get(f"{admin_url}/users", auth=ADMIN, timeout=2)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    assert r.status_code == 200, r.text
    assert [u["name"] for u in r.json()["items"]] == ["admin"]
    assert httpx.get(f"http://127.0.0.1:{port}/token", timeout=2).status_code == 404
    ok = server.token_response("admin", ADMIN_PASSWORD, "repository:x/y:pull")
    assert ok.status_code == 200
