"""GET /token: the Distribution flow docker and skopeo use (SPEC §1)."""

from __future__ import annotations

import base64
from typing import Any

import httpx2 as httpx
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.testclient import TestClient

from tests.conftest import Instance

SERVICE = "registry.test"


def basic(user: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def get_token(
    client: TestClient, *scopes: str, auth: dict[str, str] | None = None, **params: str
) -> httpx.Response:
    Param = tuple[str, str | int | float | bool | None]
    query: list[Param] = [("service", params.pop("service", SERVICE))]
    query += [("scope", s) for s in scopes]
    query += list(params.items())
    return client.get("/token", params=query, headers=auth or {})


def decode(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header = jwt.get_unverified_header(token)
    leaf = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
    key = leaf.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey)
    claims = jwt.decode(
        token,
        key,
        algorithms=[header["alg"]],
        audience=SERVICE,
        issuer="test-issuer",
        options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
    )
    return header, claims


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"].endswith(code)
    assert body["title"]
    # docker prints only ``details``: it must repeat the RFC 9457 ``detail``.
    assert body["details"] == body["detail"]
    return body


def test_anonymous_pull_of_a_public_repository(client: TestClient) -> None:
    r = get_token(client, "repository:public/base:pull,push")
    assert r.status_code == 200
    body = r.json()
    assert body["token"] == body["access_token"]
    assert body["expires_in"] == 300
    assert body["issued_at"] == "2026-11-23T12:00:00Z"
    assert "refresh_token" not in body
    header, claims = decode(body["token"])
    assert header["typ"] == "JWT" and header["alg"] == "ES256" and len(header["x5c"]) == 2
    assert claims["sub"] == "" and claims["aud"] == SERVICE and claims["iss"] == "test-issuer"
    assert claims["access"] == [{"type": "repository", "name": "public/base", "actions": ["pull"]}]
    assert claims["exp"] - claims["iat"] == 300 and claims["nbf"] == claims["iat"]
    assert isinstance(claims["jti"], str) and len(claims["jti"]) >= 16


def test_user_gets_requested_intersect_allowed(client: TestClient) -> None:
    r = get_token(
        client,
        "repository:alice/app:pull,push,delete",
        "repository:team/app:push",
        "repository:secret/x:pull",
        auth=basic("alice", "alice-pw"),
        account="alice",
    )
    assert r.status_code == 200, r.text
    _, claims = decode(r.json()["token"])
    assert claims["sub"] == "alice"
    assert claims["access"] == [
        {"type": "repository", "name": "alice/app", "actions": ["pull", "push"]}
    ]


def test_group_rule_applies(client: TestClient) -> None:
    r = get_token(client, "repository:team/app:pull,push", auth=basic("bob", "bob-pw"))
    _, claims = decode(r.json()["token"])
    assert claims["access"] == [
        {"type": "repository", "name": "team/app", "actions": ["pull", "push"]}
    ]


def test_catalog_scope(client: TestClient) -> None:
    r = get_token(client, "registry:catalog:*", auth=basic("admin", "admin-pw"))
    _, claims = decode(r.json()["token"])
    assert claims["access"] == [{"type": "registry", "name": "catalog", "actions": ["*"]}]
    r = get_token(client, "registry:catalog:*", auth=basic("alice", "alice-pw"))
    assert decode(r.json()["token"])[1]["access"] == []


def test_repeated_scopes_are_merged(client: TestClient) -> None:
    r = get_token(
        client,
        "repository:alice/a:pull",
        "repository:alice/a:pull",
        "repository:alice/a:push",
        auth=basic("alice", "alice-pw"),
    )
    assert decode(r.json()["token"])[1]["access"] == [
        {"type": "repository", "name": "alice/a", "actions": ["pull", "push"]}
    ]


def test_login_without_scope_gets_an_empty_access_list(client: TestClient) -> None:
    r = get_token(client, auth=basic("alice", "alice-pw"))
    assert r.status_code == 200
    assert decode(r.json()["token"])[1]["access"] == []


@pytest.mark.parametrize(("user", "password"), [("alice", "wrong"), ("nobody", "whatever")])
def test_bad_credentials_are_401_with_basic_challenge(
    client: TestClient, user: str, password: str
) -> None:
    r = get_token(client, "repository:alice/a:pull", auth=basic(user, password))
    body = assert_problem(r, 401, "auth.invalid_credential")
    assert r.headers["www-authenticate"].startswith('Basic realm="regauth"')
    assert password not in r.text and "argon2" not in r.text
    assert body["error"] == "invalid_grant"
    assert body["details"] == body["detail"] != ""


def test_unknown_and_known_users_get_identical_answers(client: TestClient) -> None:
    a = get_token(client, auth=basic("alice", "wrong")).json()
    b = get_token(client, auth=basic("nobody", "wrong")).json()
    assert a == b


@pytest.mark.parametrize(
    "header",
    [
        "Basic !!!notbase64",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Digest abc",
        "Bearer ",
    ],
)
def test_malformed_authorization(client: TestClient, header: str) -> None:
    r = client.get("/token", params={"service": SERVICE}, headers={"Authorization": header})
    assert_problem(r, 401, "auth.malformed_credential")


@pytest.mark.parametrize("scope", ["repository:Bad/Name:pull", "nonsense", "repository:a/b:"])
def test_malformed_scope_is_400(client: TestClient, scope: str) -> None:
    r = get_token(client, scope)
    assert_problem(r, 400, "request.malformed_scope")


def test_unknown_service_is_400(client: TestClient) -> None:
    r = get_token(client, "repository:public/a:pull", service="elsewhere")
    assert_problem(r, 400, "request.unknown_service")


def test_disabled_user_is_refused(instance: Instance, client: TestClient) -> None:
    import anyio

    from regauth.store import Database, UserStore

    async def disable() -> None:
        db = Database(instance.settings.database_url)
        await UserStore(db, instance.clock).set_disabled("alice", True)
        await db.dispose()

    anyio.run(disable)
    assert_problem(
        get_token(client, auth=basic("alice", "alice-pw")), 401, "auth.invalid_credential"
    )


def test_jwks_healthz_readyz(client: TestClient) -> None:
    jwks = client.get("/.well-known/jwks.json")
    assert jwks.status_code == 200
    (key,) = jwks.json()["keys"]
    assert key["kty"] == "EC" and key["kid"] and "d" not in key
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"keys": "ok", "database": "ok"}


def test_metrics_count_issued_and_rejected(client: TestClient) -> None:
    get_token(client, "repository:public/a:pull")
    get_token(client, "bad")
    text = client.get("/metrics").text
    assert "registry_token_issued_total 1.0" in text
    assert 'registry_token_rejected_total{reason="request.malformed_scope"} 1.0' in text


def test_the_served_fast_path_answers_like_the_router(instance: Instance) -> None:
    """The application as served sends its 200 without a Response object: same status,
    headers (names, values, order) and body shape as the Starlette route."""
    from regauth.web.app import create_app

    instance.add_user("carol", "carol-pw")
    answers = []
    for app in (create_app(instance.settings, clock=instance.clock), None):
        with TestClient(app) if app is not None else instance.client() as c:
            got = get_token(c, "repository:carol/app:pull", auth=basic("carol", "carol-pw"))
            form = {"grant_type": "password", "username": "carol", "password": "carol-pw"}
            posted = c.post("/token", data={**form, "service": SERVICE})
            bad = get_token(c, "repository:carol/app:pull", auth=basic("carol", "wrong"))
        answers.append(
            [(r.status_code, r.headers.multi_items(), sorted(r.json())) for r in (got, posted, bad)]
        )
    router, served = answers
    assert served == router
    assert [status for status, _, _ in served] == [200, 200, 401]
    assert served[0][1] == [
        ("cache-control", "no-store"),
        ("content-length", served[0][1][1][1]),
        ("content-type", "application/json"),
    ]
