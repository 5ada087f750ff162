"""Who may call /api/v1: credentials, the admin mapping, throttling."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

import pytest
from starlette.testclient import TestClient

from regauth.admin import Permission
from regauth.config.admin import AdminSettings
from regauth.domain.principal import Principal
from regauth.errors import ScopeDenied
from regauth.web.api.caller import actor_of
from tests.conftest import FrozenClock
from tests.web.api.conftest import ADMIN, ALICE, OPS, READER, api_instance, assert_problem, basic

SETTINGS = AdminSettings(oidc_scopes=("regauth:admin",), oidc_groups=("platform",))


def principal(source: str, groups: tuple[str, ...] = (), **claims: object) -> Principal:
    return Principal("who", source, frozenset(groups), MappingProxyType(claims))


@pytest.mark.parametrize(
    ("who", "kind", "admin"),
    [
        (principal("local", ("admins",)), "user", True),
        (principal("local", ("dev",)), "user", False),
        (principal("pat", ("admins", "dev")), "user", True),
        (principal("robot"), "user", False),
        (principal("ldap", ("admins",)), "user", True),
        (principal("apikey", scopes=["admin"]), "apikey", True),
        (principal("apikey", scopes=["metadata"]), "apikey", False),
        (principal("apikey", ("admins",)), "apikey", False),
        (principal("oidc", scopes=["pull", "regauth:admin"]), "oidc", True),
        (principal("oidc", ("platform",), scopes=[]), "oidc", True),
        (principal("oidc", ("admins",), scopes=["admin"]), "oidc", False),
    ],
)
def test_actor_of(who: Principal, kind: str, admin: bool) -> None:
    actor = actor_of(who, SETTINGS, "10.0.0.1")
    assert actor.kind == kind and actor.name == "who" and actor.address == "10.0.0.1"
    assert actor.holds(Permission.USERS_WRITE) is admin
    assert actor.holds(Permission.ADMIN) is admin


@pytest.mark.parametrize("source", ["anonymous", "certificate", "refresh_token"])
def test_other_sources_cannot_use_the_api(source: str) -> None:
    with pytest.raises(ScopeDenied):
        actor_of(principal(source), SETTINGS, "")


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "auth.missing_credential"),
        ({"Authorization": "Token abc"}, 401, "auth.malformed_credential"),
        ({"Authorization": "Basic !!!"}, 401, "auth.malformed_credential"),
        (basic("alice", "wrong"), 401, "auth.invalid_credential"),
        (basic("nobody", "x"), 401, "auth.invalid_credential"),
        ({"X-Api-Key": "regauth_ak_unknown"}, 401, "auth.invalid_credential"),
        ({"Authorization": "Bearer regauth_pat_unknown"}, 401, "auth.invalid_credential"),
        ({"Cookie": "session=abc"}, 401, "auth.missing_credential"),
        (ALICE, 403, "auth.scope_denied"),
        (READER, 403, "auth.scope_denied"),
    ],
)
def test_refused_callers(api: TestClient, headers: dict[str, str], status: int, code: str) -> None:
    r = api.get("/api/v1/tokens", headers=headers)
    body = assert_problem(r, status, code)
    if status == 401:
        assert r.headers["www-authenticate"].startswith("Basic realm=")
    assert "alice-pw" not in r.text and "wrong" not in body["detail"]


@pytest.mark.parametrize("headers", [ADMIN, OPS], ids=["admin-user", "admin-api-key"])
def test_admin_callers(api: TestClient, headers: dict[str, str]) -> None:
    assert api.get("/api/v1/tokens", headers=headers).status_code == 200


def test_pat_of_an_admin_is_an_admin(api: TestClient) -> None:
    created = api.post("/api/v1/me/tokens", json={"name": "ops"}, headers=ADMIN).json()
    bearer = {"Authorization": f"Bearer {created['secret']}"}
    assert api.get("/api/v1/tokens", headers=bearer).status_code == 200
    assert api.get("/api/v1/tokens", headers=basic("admin", created["secret"])).status_code == 200
    mine = api.post("/api/v1/me/tokens", json={}, headers=ALICE).json()
    alice_bearer = {"Authorization": f"Bearer {mine['secret']}"}
    assert_problem(api.get("/api/v1/tokens", headers=alice_bearer), 403, "auth.scope_denied")


def test_admin_group_is_configurable(
    tmp_path: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    inst = api_instance(tmp_path, clock, monkeypatch, extra='[admin]\ngroups = ["dev"]\n')
    with inst.client() as api:
        assert api.get("/api/v1/tokens", headers=ALICE).status_code == 200  # alice is in dev
        assert_problem(api.get("/api/v1/tokens", headers=ADMIN), 403, "auth.scope_denied")


def test_failed_logins_are_throttled_like_token(
    tmp_path: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    throttle = "[auth.throttle]\nmax_failures_per_account = 3\nwindow = 60\n"
    inst = api_instance(tmp_path, clock, monkeypatch, extra=throttle)
    with inst.client() as api:
        for _ in range(3):
            assert_problem(
                api.get("/api/v1/tokens", headers=basic("admin", "guess")),
                401,
                "auth.invalid_credential",
            )
        r = api.get("/api/v1/tokens", headers=ADMIN)  # even the right password now
        assert_problem(r, 429, "auth.throttled")
        assert int(r.headers["retry-after"]) > 0
        params = {"service": "registry.test", "scope": "repository:admin/x:pull"}
        assert_problem(api.get("/token", params=params, headers=ADMIN), 429, "auth.throttled")
        clock.advance(seconds=61)
        assert api.get("/api/v1/tokens", headers=ADMIN).status_code == 200


@pytest.mark.parametrize(
    ("extra", "status"),
    [("[admin]\nenabled = false\n", 404), ('[admin]\nlisten = "127.0.0.1:1"\n', 404)],
    ids=["disabled", "own-listener"],
)
def test_api_not_served_on_the_public_port(
    tmp_path: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch, extra: str, status: int
) -> None:
    inst = api_instance(tmp_path, clock, monkeypatch, extra=extra)
    with inst.client() as api:
        assert_problem(api.get("/api/v1/tokens", headers=ADMIN), status, "request.not_found")
        assert_problem(api.get("/api/v1/openapi.json"), status, "request.not_found")
        params = {"service": "registry.test", "scope": "repository:admin/x:pull"}
        assert api.get("/token", params=params, headers=ADMIN).status_code == 200
