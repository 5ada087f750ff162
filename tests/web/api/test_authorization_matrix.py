"""Every operation × every kind of caller → the expected status (one table).

Callers: anonymous; ``alice`` (a plain user, the owner of the sample tokens);
``bob`` (another plain user); ``admin`` (member of ``admins``); the API keys
``ops`` (scope ``admin``) and ``reader`` (no ``admin`` scope); an OIDC access
token from a real IdP whose groups include the configured admin group.
Each request gets fresh targets (a user to remove, a token to revoke…) made
beforehand with the ``ops`` key, so every cell is decided on its own.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from starlette.testclient import TestClient

from regauth.web.api import OPERATIONS
from regauth.web.app import create_asgi
from tests.authn.idp_fixture import Idp
from tests.authn.idp_fixture import idp as idp
from tests.conftest import FrozenClock
from tests.web.api.conftest import ADMIN, ALICE, BOB, OPS, READER, api_instance
from tests.web.test_identity_http import oidc_config
from tests.web.test_token_get import SERVICE

CALLERS = ("anonymous", "alice", "bob", "admin", "ops-key", "reader-key", "oidc-admin")
PASSWORDS = {"alice": "alice-pw", "bob": "bob-password", "admin": "admin-pw"}

# operation: anonymous, alice (plain), bob (other), admin user, admin key, other key, OIDC admin
A200 = (401, 403, 403, 200, 200, 403, 200)
A201 = (401, 403, 403, 201, 201, 403, 201)
TABLE: dict[str, tuple[int, ...]] = {
    "listUsers": A200,
    "addUser": A201,
    "showUser": A200,
    "updateUser": A200,
    "unlockUser": A200,
    "removeUser": A200,
    "showMe": (401, 200, 200, 200, 403, 403, 403),
    "changeMyPassword": (401, 204, 204, 204, 403, 403, 403),
    "listGroups": A200,
    "addGroup": A201,
    "removeGroup": A200,
    "addGroupMember": A200,
    "removeGroupMember": A200,
    "listRules": A200,
    "addRule": A201,
    "moveRule": A200,
    "removeRule": A200,
    "lintRules": A200,
    "showKeys": A200,
    "rotateKeys": A200,
    "getJwks": A200,
    "getRegistryBundle": A200,
    "listTokens": A200,
    "listUserTokens": A200,
    "createUserToken": A201,
    "revokeUserToken": A200,
    "listUserRefreshTokens": A200,
    "revokeUserRefreshToken": A200,
    "listMyTokens": (401, 200, 200, 200, 403, 403, 403),
    "createMyToken": (401, 201, 201, 201, 403, 403, 403),
    # alice's token: another user (even an admin, on /me) does not find it
    "revokeMyToken": (401, 200, 404, 404, 403, 403, 403),
    "listMyRefreshTokens": (401, 200, 200, 200, 403, 403, 403),
    "revokeMyRefreshToken": (401, 200, 404, 404, 403, 403, 403),
    "listAudit": A200,
    "exportAudit": A200,
    "checkAccess": A200,
    "showConfig": A200,
    "reloadConfig": A200,
    "listAccessRequests": A200,
    "requestAccess": A201,
    "decideAccessRequest": A200,
    "revokeAccessRequest": A200,
    # alice's request: another user (even an admin, on /me) does not find it
    "revokeMyAccessRequest": (401, 200, 404, 404, 403, 403, 403),
    "listMyAccessRequests": (401, 200, 200, 200, 403, 403, 403),
    "requestMyAccess": (401, 201, 201, 201, 403, 403, 403),
    "listRegistryEvents": A200,
}
APPROVAL = '\n[events.approval]\nenabled = true\nsecret = "matrix-approval-secret"\n'
ACCESS = {"repository": "team/x", "actions": ["pull"], "duration_seconds": 60}


@dataclass
class Request:
    method: str
    path: str
    json: Any = None


class Targets:
    """Makes fresh things to act on, with the admin API key."""

    def __init__(self, api: TestClient) -> None:
        self.api = api
        self.counter = itertools.count(1)

    def name(self, prefix: str) -> str:
        return f"{prefix}{next(self.counter)}"

    def user(self) -> str:
        name = self.name("t-user")
        r = self.api.post("/api/v1/users", json={"name": name, "robot": True}, headers=OPS)
        assert r.status_code == 201, r.text
        return name

    def group(self, member: str | None = None) -> str:
        name = self.name("t-group")
        assert self.api.post("/api/v1/groups", json={"name": name}, headers=OPS).is_success
        if member:
            assert self.api.put(f"/api/v1/groups/{name}/members/{member}", headers=OPS).is_success
        return name

    def rule(self) -> int:
        body = {"user": "alice", "name": f"{self.name('r')}/**", "actions": ["pull"]}
        r = self.api.post("/api/v1/rules", json=body, headers=OPS)
        assert r.status_code == 201, r.text
        rule_id: int = r.json()["rule"]["id"]
        return rule_id

    def pat(self) -> str:
        r = self.api.post("/api/v1/users/alice/tokens", json={}, headers=OPS)
        token_id: str = r.json()["token"]["id"]
        return token_id

    def access_request(self) -> int:
        r = self.api.post("/api/v1/access-requests", json={**ACCESS, "user": "alice"}, headers=OPS)
        assert r.status_code == 201, r.text
        request_id: int = r.json()["id"]
        return request_id

    def refresh(self) -> str:
        params = {"service": SERVICE, "offline_token": "true", "client_id": self.name("c")}
        assert self.api.get("/token", params=params, headers=ALICE).is_success
        tokens = self.api.get("/api/v1/users/alice/refresh-tokens", headers=OPS).json()["items"]
        token_id: str = tokens[-1]["id"]
        return token_id


def sample(op_id: str, t: Targets, caller: str) -> Request:
    password = PASSWORDS.get(caller, "whatever-pw")
    build: dict[str, Callable[[], Request]] = {
        "listUsers": lambda: Request("GET", "/users"),
        "addUser": lambda: Request("POST", "/users", {"name": t.name("new"), "robot": True}),
        "showUser": lambda: Request("GET", "/users/alice"),
        "updateUser": lambda: Request("PATCH", f"/users/{t.user()}", {"disabled": True}),
        "unlockUser": lambda: Request("POST", "/users/bob/unlock"),
        "removeUser": lambda: Request("DELETE", f"/users/{t.user()}"),
        "showMe": lambda: Request("GET", "/me"),
        "changeMyPassword": lambda: Request(
            "POST", "/me/password", {"current_password": password, "new_password": password}
        ),
        "listGroups": lambda: Request("GET", "/groups"),
        "addGroup": lambda: Request("POST", "/groups", {"name": t.name("g")}),
        "removeGroup": lambda: Request("DELETE", f"/groups/{t.group()}"),
        "addGroupMember": lambda: Request("PUT", f"/groups/{t.group()}/members/bob"),
        "removeGroupMember": lambda: Request("DELETE", f"/groups/{t.group('bob')}/members/bob"),
        "listRules": lambda: Request("GET", "/rules"),
        "addRule": lambda: Request(
            "POST", "/rules", {"group": "dev", "name": "m/**", "actions": ["pull"]}
        ),
        "moveRule": lambda: Request("PUT", f"/rules/{t.rule()}/position", {"position": 1}),
        "removeRule": lambda: Request("DELETE", f"/rules/{t.rule()}"),
        "lintRules": lambda: Request("GET", "/rules/lint"),
        "showKeys": lambda: Request("GET", "/keys"),
        "rotateKeys": lambda: Request("POST", "/keys/rotate"),
        "getJwks": lambda: Request("GET", "/keys/jwks"),
        "getRegistryBundle": lambda: Request("GET", "/keys/bundle"),
        "listTokens": lambda: Request("GET", "/tokens"),
        "listUserTokens": lambda: Request("GET", "/users/alice/tokens"),
        "createUserToken": lambda: Request("POST", "/users/alice/tokens", {"name": "m"}),
        "revokeUserToken": lambda: Request("DELETE", f"/users/alice/tokens/{t.pat()}"),
        "listUserRefreshTokens": lambda: Request("GET", "/users/alice/refresh-tokens"),
        "revokeUserRefreshToken": lambda: Request(
            "DELETE", f"/users/alice/refresh-tokens/{t.refresh()}"
        ),
        "listMyTokens": lambda: Request("GET", "/me/tokens"),
        "createMyToken": lambda: Request("POST", "/me/tokens", {"name": "m"}),
        "revokeMyToken": lambda: Request("DELETE", f"/me/tokens/{t.pat()}"),
        "listMyRefreshTokens": lambda: Request("GET", "/me/refresh-tokens"),
        "revokeMyRefreshToken": lambda: Request("DELETE", f"/me/refresh-tokens/{t.refresh()}"),
        "listAudit": lambda: Request("GET", "/audit"),
        "exportAudit": lambda: Request("GET", "/audit/export"),
        "checkAccess": lambda: Request(
            "POST",
            "/check",
            {"user": "alice", "scopes": ["repository:a/b:pull"], "service": SERVICE},
        ),
        "showConfig": lambda: Request("GET", "/config"),
        "reloadConfig": lambda: Request("POST", "/config/reload"),
        "listAccessRequests": lambda: Request("GET", "/access-requests"),
        "requestAccess": lambda: Request("POST", "/access-requests", {**ACCESS, "user": "bob"}),
        "decideAccessRequest": lambda: Request(
            "POST", f"/access-requests/{t.access_request()}/decision", {"decision": "approve"}
        ),
        "revokeAccessRequest": lambda: Request(
            "POST", f"/access-requests/{t.access_request()}/revoke"
        ),
        "revokeMyAccessRequest": lambda: Request(
            "POST", f"/me/access-requests/{t.access_request()}/revoke"
        ),
        "listMyAccessRequests": lambda: Request("GET", "/me/access-requests"),
        "requestMyAccess": lambda: Request("POST", "/me/access-requests", ACCESS),
        "listRegistryEvents": lambda: Request("GET", "/registry-events?repository=team/x"),
    }
    return build[op_id]()


def test_the_table_covers_every_operation() -> None:
    assert set(TABLE) == {op.operation_id for op in OPERATIONS}
    assert all(len(row) == len(CALLERS) for row in TABLE.values())


@pytest.fixture(scope="module")
def oidc_token(idp: Idp) -> str:
    async def get() -> str:
        return await idp.token()

    return anyio.run(get)


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, idp: Idp) -> Iterator[TestClient]:
    from datetime import UTC, datetime

    clock = FrozenClock(datetime.now(UTC))
    extra = oidc_config(idp) + '\n[admin]\noidc_groups = ["team-a"]\n' + APPROVAL
    inst = api_instance(tmp_path, clock, monkeypatch, extra=extra)
    app = create_asgi(inst.settings, clock=clock, config_path=tmp_path / "regauth.toml")
    with TestClient(app) as client:
        yield client


def headers_of(caller: str, oidc_token: str) -> dict[str, str]:
    return {
        "anonymous": {},
        "alice": ALICE,
        "bob": BOB,
        "admin": ADMIN,
        "ops-key": OPS,
        "reader-key": READER,
        "oidc-admin": {"Authorization": f"Bearer {oidc_token}"},
    }[caller]


@pytest.mark.parametrize("caller", CALLERS)
def test_every_operation_for(api: TestClient, oidc_token: str, caller: str) -> None:
    column = CALLERS.index(caller)
    targets = Targets(api)
    wrong: list[str] = []
    for op in OPERATIONS:
        request = sample(op.operation_id, targets, caller)
        assert request.method == op.method, op.operation_id
        response = api.request(
            request.method,
            "/api/v1" + request.path,
            json=request.json,
            headers=headers_of(caller, oidc_token),
        )
        expected = TABLE[op.operation_id][column]
        if response.status_code != expected:
            wrong.append(
                f"{op.operation_id}: {response.status_code} (want {expected}) {response.text[:120]}"
            )
        if response.status_code >= 400:
            assert response.headers["content-type"] == "application/problem+json"
    assert not wrong, "\n".join(wrong)
