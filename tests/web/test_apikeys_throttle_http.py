"""API keys (seed 002) and login throttling through /token."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.conftest import FrozenClock, Instance, make_instance
from tests.web.test_token_get import SERVICE, assert_problem, basic, decode, get_token

RAW_KEY = "regauth_ak_test-key-0123456789"
FINGERPRINT = "sha256:" + hashlib.sha256(RAW_KEY.encode()).hexdigest()
CONFIG = """
[[auth.api_keys]]
id = "intake"
hash_env = "INTAKE_API_KEY_HASH"
scopes = ["admin"]
rules = [{ name = "public/**", actions = ["pull"] }]

[auth.throttle]
max_failures_per_account = 3
max_failures_per_address = 5
window = 60
"""
RULES = '[[rules]]\nname = "**"\nactions = ["*"]\n'


@pytest.fixture
def instance(tmp_path: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch) -> Instance:
    monkeypatch.setenv("INTAKE_API_KEY_HASH", FINGERPRINT)
    inst = make_instance(tmp_path, clock, extra=CONFIG, rules=RULES)
    inst.add_user("alice", "alice-pw")
    inst.add_user("bob", "bob-pw")
    return inst


@pytest.fixture
def client(instance: Instance) -> Iterator[TestClient]:
    with instance.client() as c:
        yield c


SCOPES = ("repository:public/x:pull,push", "repository:team/x:pull")


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": f"Bearer {RAW_KEY}"},
        {"X-Api-Key": RAW_KEY},
        basic("intake", RAW_KEY),
        {"Authorization": f"Bearer {RAW_KEY}", "X-Api-Key": "ignored-because-authorization-wins"},
    ],
    ids=["bearer", "x-api-key", "basic", "authorization-wins"],
)
def test_api_key_presentations(client: TestClient, headers: dict[str, str]) -> None:
    r = get_token(client, *SCOPES, auth=headers)
    assert r.status_code == 200, r.text
    claims = decode(r.json()["token"])[1]
    assert claims["sub"] == "intake"
    # the key's own rules narrow the account's (everything) to pull on public/**
    assert claims["access"] == [{"type": "repository", "name": "public/x", "actions": ["pull"]}]


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Api-Key": "wrong"},
        basic("intake", "wrong"),
        {"Authorization": "Bearer regauth_ak_nope", "X-Api-Key": RAW_KEY},
    ],
    ids=["x-api-key", "basic", "authorization-wins-even-when-wrong"],
)
def test_wrong_api_key(client: TestClient, headers: dict[str, str]) -> None:
    r = get_token(client, "repository:public/x:pull", auth=headers)
    assert_problem(r, 401, "auth.invalid_credential")
    assert RAW_KEY not in r.text


def test_empty_x_api_key_is_malformed(client: TestClient) -> None:
    assert_problem(get_token(client, auth={"X-Api-Key": " "}), 401, "auth.malformed_credential")


def test_malformed_fingerprint_stops_start_up(
    tmp_path: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from regauth.errors import ConfigError

    monkeypatch.setenv("INTAKE_API_KEY_HASH", "sha256:NOT-HEX-secret-value")
    inst = make_instance(tmp_path, clock, extra=CONFIG, rules=RULES)
    with pytest.raises(ConfigError) as raised, inst.client():
        pass
    assert "INTAKE_API_KEY_HASH" in str(raised.value)
    assert "secret-value" not in str(raised.value)


def test_failures_are_throttled_per_account_with_retry_after(
    client: TestClient, instance: Instance
) -> None:
    for _ in range(3):
        assert_problem(
            get_token(client, auth=basic("alice", "wrong")), 401, "auth.invalid_credential"
        )
    r = get_token(client, auth=basic("alice", "alice-pw"))  # even the right password now
    assert_problem(r, 429, "auth.throttled")
    assert 0 < int(r.headers["retry-after"]) <= 60
    assert get_token(client, auth=basic("bob", "bob-pw")).status_code == 200  # other accounts fine
    instance.clock.advance(seconds=61)
    assert get_token(client, auth=basic("alice", "alice-pw")).status_code == 200


def test_success_resets_the_account_counter(client: TestClient) -> None:
    for _ in range(2):
        get_token(client, auth=basic("alice", "wrong"))
    assert get_token(client, auth=basic("alice", "alice-pw")).status_code == 200
    for _ in range(2):
        get_token(client, auth=basic("alice", "wrong"))
    assert get_token(client, auth=basic("alice", "alice-pw")).status_code == 200


def test_failures_are_throttled_per_address(client: TestClient) -> None:
    for user in ("u1", "u2", "u3", "u4", "u5"):
        get_token(client, auth=basic(user, "wrong"))
    r = get_token(client, auth=basic("bob", "bob-pw"))
    assert_problem(r, 429, "auth.throttled")


def test_anonymous_requests_are_never_throttled(client: TestClient) -> None:
    for _ in range(10):
        assert get_token(client, "repository:public/x:pull").status_code == 200


def test_service_is_still_checked(client: TestClient) -> None:
    r = client.get("/token", params={"service": "other"}, headers={"X-Api-Key": RAW_KEY})
    assert_problem(r, 400, "request.unknown_service")
    assert SERVICE != "other"
