"""Access tokens and refresh tokens through /api/v1: admin routes and self-service."""

from __future__ import annotations

from starlette.testclient import TestClient

from regauth.web.app import create_asgi
from tests.conftest import Instance
from tests.web.api.conftest import ADMIN, ALICE, BOB, OPS, assert_problem, basic
from tests.web.test_token_get import SERVICE


def create(api: TestClient, auth: dict[str, str], path: str, **body: object) -> dict[str, object]:
    r = api.post(path, json=body, headers=auth)
    assert r.status_code == 201, r.text
    created: dict[str, object] = r.json()
    return created


def test_admin_creates_a_token_shown_once_and_usable(api: TestClient) -> None:
    body = create(
        api,
        ADMIN,
        "/api/v1/users/alice/tokens",
        name="ci",
        rules=[{"name": "**", "actions": ["pull"]}],
    )
    secret = body["secret"]
    assert isinstance(secret, str) and secret.startswith("regauth_pat_")
    token = body["token"]
    assert isinstance(token, dict)
    assert token["user"] == "alice" and token["kind"] == "pat" and token["name"] == "ci"
    assert token["rules"] == [
        {
            "name": "**",
            "actions": ["pull"],
            "type": "repository",
            "service": [],
            "client_cidr": [],
            "deny": False,
            "comment": "",
        }
    ]
    assert token["expires_at"] == "2027-02-21T12:00:00Z"
    listed = api.get("/api/v1/users/alice/tokens", headers=ADMIN)
    assert listed.status_code == 200
    assert [t["id"] for t in listed.json()["items"]] == [token["id"]]
    assert secret not in listed.text
    r = api.get(
        "/token",
        params={"service": SERVICE, "scope": "repository:alice/app:pull,push"},
        headers=basic("alice", secret),
    )
    assert r.status_code == 200, r.text
    used = api.get("/api/v1/users/alice/tokens", headers=ADMIN).json()["items"][0]
    assert used["last_used_at"] == "2026-11-23T12:00:00Z"
    assert used["last_used_addr"] == "testclient"


def test_revoked_token_stops_working(api: TestClient) -> None:
    body = create(api, OPS, "/api/v1/users/alice/tokens", name="ci")
    token = body["token"]
    assert isinstance(token, dict)
    r = api.delete(f"/api/v1/users/alice/tokens/{token['id']}", headers=OPS)
    assert r.status_code == 200, r.text
    assert r.json()["revoked_at"] == "2026-11-23T12:00:00Z"
    again = api.get(
        "/token",
        params={"service": SERVICE, "scope": "repository:alice/app:pull"},
        headers=basic("alice", str(body["secret"])),
    )
    assert_problem(again, 401, "auth.invalid_credential")


def test_self_service_tokens(api: TestClient) -> None:
    mine = create(api, ALICE, "/api/v1/me/tokens", name="laptop", expires_in_days=None)
    token = mine["token"]
    assert isinstance(token, dict) and token["expires_at"] is None and token["user"] == "alice"
    assert [t["id"] for t in api.get("/api/v1/me/tokens", headers=ALICE).json()["items"]] == [
        token["id"]
    ]
    assert api.get("/api/v1/me/tokens", headers=BOB).json()["items"] == []
    # bob cannot see or revoke alice's token: it does not exist for him
    assert_problem(
        api.delete(f"/api/v1/me/tokens/{token['id']}", headers=BOB), 404, "admin.not_found"
    )
    assert_problem(api.get("/api/v1/users/alice/tokens", headers=BOB), 403, "auth.scope_denied")
    r = api.delete(f"/api/v1/me/tokens/{token['id']}", headers=ALICE)
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    active = api.get("/api/v1/me/tokens", params={"active": "true"}, headers=ALICE)
    assert active.json()["items"] == []


def test_refresh_tokens_listed_and_revoked(api: TestClient) -> None:
    login = api.get(
        "/token",
        params={"service": SERVICE, "offline_token": "true", "client_id": "docker"},
        headers=ALICE,
    )
    refresh = login.json()["refresh_token"]
    listed = api.get("/api/v1/me/refresh-tokens", headers=ALICE)
    assert listed.status_code == 200
    (item,) = listed.json()["items"]
    assert item["kind"] == "refresh" and item["client_id"] == "docker"
    assert refresh not in listed.text
    admin_view = api.get("/api/v1/users/alice/refresh-tokens", headers=ADMIN).json()["items"]
    assert [t["id"] for t in admin_view] == [item["id"]]
    # a PAT route does not revoke a refresh token
    assert_problem(
        api.delete(f"/api/v1/me/tokens/{item['id']}", headers=ALICE), 404, "admin.not_found"
    )
    r = api.delete(f"/api/v1/users/alice/refresh-tokens/{item['id']}", headers=ADMIN)
    assert r.status_code == 200
    form = {"grant_type": "refresh_token", "refresh_token": refresh, "service": SERVICE}
    assert_problem(api.post("/token", data=form), 401, "auth.invalid_credential")


def test_invalid_token_input_names_the_fields(api: TestClient) -> None:
    r = api.post(
        "/api/v1/users/alice/tokens",
        json={"expires_in_days": 0, "rules": [{"name": "x/[", "actions": ["pul"]}]},
        headers=ADMIN,
    )
    body = assert_problem(r, 422, "admin.invalid")
    fields = {e["field"] for e in body["errors"]}
    assert "expires_in_days" in fields
    r = api.post(
        "/api/v1/users/alice/tokens",
        json={"rules": [{"name": "x/[", "actions": ["pul"]}]},
        headers=ADMIN,
    )
    body = assert_problem(r, 422, "admin.invalid")
    assert any(e["field"].startswith("rules[0]") for e in body["errors"]), body
    assert "did you mean pull" in r.text
    r = api.post("/api/v1/users/alice/tokens", json={"rules": [{"name": "**"}]}, headers=ADMIN)
    assert_problem(r, 422, "admin.invalid")
    r = api.post(
        "/api/v1/users/alice/tokens",
        json={"rules": [{"name": "**", "deny": True}]},
        headers=ADMIN,
    )
    assert r.status_code == 201, r.text


def test_token_for_unknown_user(api: TestClient) -> None:
    assert_problem(
        api.post("/api/v1/users/nobody/tokens", json={}, headers=ADMIN), 404, "admin.not_found"
    )
    assert_problem(api.get("/api/v1/users/nobody/tokens", headers=ADMIN), 404, "admin.not_found")


def test_list_every_token_filters(api: TestClient) -> None:
    create(api, ADMIN, "/api/v1/users/alice/tokens", name="a")
    create(api, ADMIN, "/api/v1/users/bob/tokens", name="b")
    everyone = api.get("/api/v1/tokens", headers=ADMIN).json()["items"]
    assert sorted(t["user"] for t in everyone) == ["alice", "bob"]
    only_bob = api.get("/api/v1/tokens", params={"user": "bob"}, headers=ADMIN).json()["items"]
    assert [t["name"] for t in only_bob] == ["b"]


def test_revocation_through_the_api_is_immediate_despite_read_caches(instance: Instance) -> None:
    database = instance.settings.database.model_copy(update={"cache_seconds": 30.0})
    settings = instance.settings.model_copy(update={"database": database})
    with TestClient(create_asgi(settings, clock=instance.clock)) as api:
        created = create(api, ADMIN, "/api/v1/users/alice/tokens", name="ci")
        params = {"service": SERVICE, "scope": "repository:alice/app:pull"}
        pat = basic("alice", str(created["secret"]))
        assert api.get("/token", params=params, headers=pat).status_code == 200  # now cached
        token = created["token"]
        assert isinstance(token, dict)
        assert api.delete(f"/api/v1/users/alice/tokens/{token['id']}", headers=ADMIN).is_success
        assert_problem(
            api.get("/token", params=params, headers=pat), 401, "auth.invalid_credential"
        )
