"""/api/v1/keys and /api/v1/config."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from starlette.testclient import TestClient

from regauth.web.app import create_asgi
from tests.conftest import FrozenClock
from tests.web.api.conftest import ADMIN, OPS, api_instance, assert_problem
from tests.web.test_token_get import SERVICE, decode


def test_show_keys_and_jwks(api: TestClient) -> None:
    r = api.get("/api/v1/keys", headers=ADMIN)
    assert r.status_code == 200, r.text
    keys = r.json()
    assert keys["current"]["alg"] == "ES256" and keys["previous"] == []
    assert keys["ca_subject"] and keys["current"]["verifies_until"] is None
    jwks = api.get("/api/v1/keys/jwks", headers=ADMIN).json()
    assert jwks == api.get("/.well-known/jwks.json").json()
    assert all("d" not in key for key in jwks["keys"])  # public keys only


def test_registry_bundle_download(api: TestClient) -> None:
    r = api.get("/api/v1/keys/bundle", headers=OPS)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/x-pem-file")
    assert "registry-bundle.pem" in r.headers["content-disposition"]
    (ca,) = x509.load_pem_x509_certificates(r.content)
    assert b"PRIVATE" not in r.content
    assert ca.subject.rfc4514_string() == api.get("/api/v1/keys", headers=OPS).json()["ca_subject"]


def test_rotate_signs_with_the_new_key_at_once(api: TestClient) -> None:
    before = api.get("/api/v1/keys", headers=ADMIN).json()["current"]
    r = api.post("/api/v1/keys/rotate", headers=ADMIN)
    assert r.status_code == 200, r.text
    after = r.json()
    assert after["current"]["key_id"] != before["key_id"]
    assert [k["key_id"] for k in after["previous"]] == [before["key_id"]]
    assert after["previous"][0]["verifies_until"] is not None
    token = api.get(
        "/token", params={"service": SERVICE, "scope": "repository:admin/x:pull"}, headers=ADMIN
    ).json()["token"]
    header, _ = decode(token)
    assert header["kid"] == after["current"]["kid"]


def test_effective_config_redacts_secrets(
    tmp_path: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    webhook = (
        '[auth.webhook.audit]\nurl = "http://127.0.0.1:9/hook"\n'
        'bearer_token = "hook-secret-value"\n'
    )
    inst = api_instance(tmp_path, clock, monkeypatch, extra=webhook)
    with inst.client() as api:
        r = api.get("/api/v1/config", headers=ADMIN)
        assert r.status_code == 200, r.text
        settings = r.json()["settings"]
        assert settings["auth"]["webhook"]["audit"]["bearer_token"] == "**********"
        assert "hook-secret-value" not in r.text
        assert settings["token"]["issuer"] == "test-issuer"
        assert [k["id"] for k in settings["auth"]["api_keys"]] == ["ops", "reader"]
        assert settings["admin"]["groups"] == ["admins"]


def test_database_password_redacted() -> None:
    from regauth.admin.config import redact_url

    url = "postgresql+psycopg://regauth:s3cret@db.example:5432/regauth"
    assert redact_url(url) == "postgresql+psycopg://regauth:**********@db.example:5432/regauth"
    assert redact_url("sqlite:///x.db") == "sqlite:///x.db"


def test_reload(tmp_path: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch) -> None:
    inst = api_instance(tmp_path, clock, monkeypatch)
    config = tmp_path / "regauth.toml"
    app = create_asgi(inst.settings, clock=clock, config_path=config)
    with TestClient(app) as api:
        text = config.read_text()
        config.write_text(text.replace("ttl = ", "ttl = ") + "\n[log]\nlevel = 'nope'\n")
        r = api.post("/api/v1/config/reload", headers=ADMIN)
        problem = assert_problem(r, 422, "admin.invalid")
        assert problem["errors"][0]["field"] == "log.level"
        config.write_text(text.replace('issuer = "test-issuer"', 'issuer = "reloaded"'))
        r = api.post("/api/v1/config/reload", headers=ADMIN)
        assert r.status_code == 200, r.text
        assert r.json() == {"reloaded": True, "path": str(config)}
        shown = api.get("/api/v1/config", headers=ADMIN).json()["settings"]
        assert shown["token"]["issuer"] == "reloaded"


def test_reload_without_a_file(api: TestClient) -> None:
    assert_problem(api.post("/api/v1/config/reload", headers=ADMIN), 409, "admin.conflict")
