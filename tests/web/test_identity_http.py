"""Seed 002's troubleshooting cases through /token, against a real IdP (oidc-provider).

Each case asserts the HTTP status and the problem ``code``, and that no token
or secret leaks into the answer.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import anyio
import httpx2 as httpx
import pytest
from starlette.testclient import TestClient

from tests.authn.idp_fixture import DpopKey, Idp, start_idp
from tests.authn.idp_fixture import idp as idp
from tests.authn.test_oidc import mint
from tests.conftest import FrozenClock, Instance, make_instance
from tests.web.test_token_get import SERVICE, assert_problem, decode

RULES = '[[rules]]\naccount = "*"\nname = "ci/**"\nactions = ["pull", "push"]\n'


def oidc_config(issuer: Idp, **extra: str) -> str:
    lines = [
        "[auth.oidc.corp]",
        f'issuer = "{issuer.issuer}"',
        'audience = "regauth"',
        f'discovery_url = "{issuer.discovery_url}"',
        'scope_map = { "registry.token.issue" = "token:issue" }',
        *(f"{k} = {v}" for k, v in extra.items()),
    ]
    return "\n".join(lines) + "\n"


@pytest.fixture
def live_clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC))


def instance_for(tmp_path: Path, clock: FrozenClock, issuer: Idp, **extra: str) -> Instance:
    return make_instance(tmp_path, clock, extra=oidc_config(issuer, **extra), rules=RULES)


@pytest.fixture
def client(tmp_path: Path, live_clock: FrozenClock, idp: Idp) -> Iterator[TestClient]:
    inst = instance_for(tmp_path, live_clock, idp, required_scope='"token:issue"')
    with inst.client() as c:
        yield c


def token_for(issuer: Idp, **kwargs: object) -> str:
    async def get() -> str:
        return await issuer.token(**kwargs)  # type: ignore[arg-type]

    return anyio.run(get)


def bearer(
    client: TestClient, token: str, scheme: str = "Bearer", **headers: str
) -> httpx.Response:
    params = {"service": SERVICE, "scope": "repository:ci/app:pull,push"}
    return client.get(
        "/token", params=params, headers={"Authorization": f"{scheme} {token}", **headers}
    )


def test_valid_oidc_token(client: TestClient, idp: Idp) -> None:
    r = bearer(client, token_for(idp))
    assert r.status_code == 200, r.text
    claims = decode(r.json()["token"])[1]
    assert claims["sub"] == "ci-runner"
    assert claims["access"][0]["actions"] == ["pull", "push"]


def test_oidc_token_as_basic_password(client: TestClient, idp: Idp) -> None:
    r = client.get(
        "/token",
        params={"service": SERVICE, "scope": "repository:ci/app:pull"},
        auth=("ci-runner", token_for(idp)),
    )
    assert r.status_code == 200, r.text


def test_missing_credential(client: TestClient) -> None:
    r = client.post(
        "/token",
        data={"grant_type": "password", "service": SERVICE},
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert_problem(r, 401, "auth.missing_credential")


@pytest.mark.parametrize("header", ["Bearer", "Bearer   ", "Token abc", "Basic"])
def test_malformed_credential(client: TestClient, header: str) -> None:
    r = client.get("/token", params={"service": SERVICE}, headers={"Authorization": header})
    assert_problem(r, 401, "auth.malformed_credential")


def test_expired_token(tmp_path: Path, live_clock: FrozenClock, idp: Idp) -> None:
    token = token_for(idp)
    with instance_for(tmp_path, live_clock, idp).client() as c:
        live_clock.advance(hours=3)
        r = bearer(c, token)
        assert_problem(r, 401, "auth.token_expired")
        assert token not in r.text


def test_unknown_kid(client: TestClient, idp: Idp) -> None:
    forged = mint({"iss": idp.issuer, "aud": "regauth"}, kid="not-published")
    assert_problem(bearer(client, forged), 401, "auth.kid_unknown")


def test_scope_denied(client: TestClient, idp: Idp) -> None:
    r = bearer(client, token_for(idp, scope="pull"))
    body = assert_problem(r, 403, "auth.scope_denied")
    assert "token:issue" in body["detail"]


def test_jwks_unavailable(
    tmp_path: Path, live_clock: FrozenClock, tmp_path_factory: pytest.TempPathFactory
) -> None:
    private = start_idp(tmp_path_factory.mktemp("idp-down"))
    try:
        with instance_for(tmp_path, live_clock, private).client() as c:
            private.stop()
            live_clock.advance(seconds=11)
            forged = mint({"iss": private.issuer, "aud": "regauth"}, kid="rotated")
            assert_problem(bearer(c, forged), 503, "auth.jwks_unavailable")
            ready = c.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["jwks:corp"] == "failed"
    finally:
        private.stop()


def test_dpop_bound_token_through_the_endpoint(client: TestClient, idp: Idp) -> None:
    key = DpopKey()
    token = token_for(idp, dpop=key)
    url = "http://testserver/token"
    proof = key.proof("GET", url, access_token=token)
    assert bearer(client, token, "DPoP", dpop=proof).status_code == 200
    replay = bearer(client, token, "DPoP", dpop=proof)
    assert_problem(replay, 401, "auth.dpop_invalid")
    other_url = key.proof("GET", "http://elsewhere/token", access_token=token)
    assert_problem(bearer(client, token, "DPoP", dpop=other_url), 401, "auth.dpop_invalid")
    assert_problem(bearer(client, token, "DPoP"), 401, "auth.dpop_invalid")
    fresh = key.proof("GET", url, access_token=token, iat=time.time())
    post = client.post(
        "/token",
        data={"service": SERVICE, "scope": "repository:ci/app:pull"},
        headers={
            "Authorization": f"DPoP {token}",
            "DPoP": fresh,
            "content-type": "application/x-www-form-urlencoded",
        },
    )
    assert_problem(post, 401, "auth.dpop_invalid")  # htm is GET, the request is POST


def test_unbound_token_when_sender_constraint_is_required(
    tmp_path: Path, live_clock: FrozenClock, idp: Idp
) -> None:
    inst = instance_for(tmp_path, live_clock, idp, require_sender_constraint="true")
    with inst.client() as c:
        assert_problem(bearer(c, token_for(idp)), 401, "auth.sender_constraint_required")


def test_discovery_failure_stops_start_up(
    tmp_path: Path, live_clock: FrozenClock, idp: Idp
) -> None:
    from regauth.errors import ConfigError

    inst = make_instance(
        tmp_path,
        live_clock,
        rules=RULES,
        extra=oidc_config(idp).replace("/.well-known/openid-configuration", "/nothing-here"),
    )
    with pytest.raises(ConfigError, match=r"auth\.oidc\.corp\.discovery_url"), inst.client():
        pass
