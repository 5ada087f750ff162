"""`regauth check` decides as the server does: one table of callers through both.

Every caller asks a real ``/token`` (the ASGI app, from a client address)
and ``regauth check`` (the CLI, same configuration and database, same client
address); the granted actions, or the refusal's problem code, must be equal.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta

import anyio
import pytest
from starlette.testclient import TestClient

from regauth.authn.pat import PREFIX
from regauth.authn.refresh import secret_hash
from regauth.store import Database, TokenStore, UserStore
from regauth.web.app import create_asgi
from tests.cli.test_cli import run
from tests.conftest import FrozenClock, Instance, make_instance
from tests.web.test_token_get import basic, decode, get_token

PLANS = """
default_plan = "free"
plan_claim = "plan"
license_claim = "license"
revoked_licenses = ["L-REVOKED"]
[[plans.free]]
repositories = ["public/*", "alice/*", "bob/*", "team/*", "internal/*", "ci/*"]
actions = ["pull", "push"]
[[plans.pro]]
repositories = ["*/*"]
actions = ["pull", "push", "delete"]
"""
RULES = """
[[rules]]
anyone = true
name = "public/**"
actions = ["pull"]
[[rules]]
account = "*"
name = "${account}/**"
actions = ["pull", "push"]
[[rules]]
group = "dev"
name = "team/**"
actions = ["pull", "push"]
[[rules]]
anonymous = false
client_cidr = ["10.1.0.0/16"]
name = "internal/**"
actions = ["pull"]
[[rules]]
account = "carol"
name = "**"
actions = ["*"]
"""
CLIENT = "10.1.2.3"
SECRETS: dict[str, str] = {}


def _db(instance: Instance, fn: Callable[[Database], Awaitable[None]]) -> None:
    async def main() -> None:
        db = Database(instance.settings.database_url)
        try:
            await fn(db)
        finally:
            await db.dispose()

    anyio.run(main)


def _tokens(instance: Instance) -> None:
    async def go(db: Database) -> None:
        store = TokenStore(db, instance.clock)
        now = instance.clock.now()
        for token_id, user, rules, expires in [
            ("ci-pull", "ci", '[{"name": "**", "actions": ["pull"]}]', None),
            ("al-live", "alice", '[{"name": "alice/**", "actions": ["pull"]}]', None),
            ("al-revoked", "alice", "[]", None),
            ("al-expired", "alice", "[]", now - timedelta(days=30)),
        ]:
            secret = f"{PREFIX}{token_id}-secret-0123456789abcdef"
            SECRETS[token_id] = secret
            await store.create(
                token_id=token_id,
                user_name=user,
                kind="pat",
                secret_hash=secret_hash(secret),
                expires_at=expires,
                rules_json=rules,
            )
        await store.revoke("al-revoked")

    _db(instance, go)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Instance, TestClient]]:
    clock = FrozenClock()
    inst = make_instance(tmp_path_factory.mktemp("check"), clock, top=PLANS, rules=RULES)
    inst.add_user("alice", "pw")
    inst.add_user("bob", "pw", ("dev",))
    inst.add_user("carol", "pw")
    inst.add_user("dave", "pw")

    async def setup(db: Database) -> None:
        users = UserStore(db, clock)
        await users.set_attributes("carol", {"plan": "pro", "license": "L-REVOKED"})
        await users.set_attributes("bob", {"plan": "pro"})
        await users.set_disabled("dave", True)
        await users.add("ci", None, kind="robot")

    _db(inst, setup)
    _tokens(inst)
    app = create_asgi(inst.settings, clock=clock)
    with TestClient(app, base_url="http://testserver", client=(CLIENT, 40000)) as client:
        yield inst, client


CALLERS = [
    ("anonymous", None, None, "repository:public/app:pull,push"),
    ("anonymous", None, None, "repository:internal/app:pull"),
    ("alice", "pw", None, "repository:public/app:pull"),
    ("alice", "pw", None, "repository:alice/app:pull,push,delete"),
    ("alice", "pw", None, "repository:team/app:pull"),
    ("alice", "pw", None, "repository:internal/app:pull"),
    ("bob", "pw", None, "repository:team/app:pull,push,delete"),
    ("bob", "pw", None, "repository:bob/app:delete"),
    ("carol", "pw", None, "repository:public/app:pull"),
    ("dave", "pw", None, "repository:dave/app:pull"),
    ("ci", None, "ci-pull", "repository:ci/app:pull,push"),
    ("alice", None, "al-live", "repository:alice/app:pull,push"),
    ("alice", None, "al-revoked", "repository:alice/app:pull"),
    ("alice", None, "al-expired", "repository:alice/app:pull"),
]


def _server(
    client: TestClient, user: str, password: str | None, token: str | None, scope: str
) -> str:
    auth = None
    if token is not None:
        auth = basic(user, SECRETS[token])
    elif password is not None:
        auth = basic(user, password)
    response = get_token(client, scope, auth=auth)
    if response.status_code != 200:
        return f"denied {response.json()['code']}"
    _, claims = decode(response.json()["token"])
    granted = [a for entry in claims["access"] for a in entry["actions"]]
    return f"granted {','.join(granted) or 'nothing'}"


def _check(instance: Instance, user: str, token: str | None, scope: str) -> str:
    args = ["--config", str(instance.dir / "regauth.toml"), "check", "--scope", scope]
    args += ["--client-ip", CLIENT, "--offline"]
    args += ["--anonymous"] if user == "anonymous" else ["--user", user]
    args += ["--token-id", token] if token else []
    result = run(args)
    lines = result.output.splitlines()
    if result.exit_code == 1:
        return lines[-1].split(":")[0] + " " + lines[-1].split(":")[1].strip()
    assert result.exit_code == 0, result.output
    (summary,) = [line for line in lines if "→ granted" in line]
    return "granted " + summary.split("→ granted ")[1]


@pytest.mark.parametrize(("user", "password", "token", "scope"), CALLERS)
def test_check_and_the_token_endpoint_decide_alike(
    world: tuple[Instance, TestClient],
    user: str,
    password: str | None,
    token: str | None,
    scope: str,
) -> None:
    instance, client = world
    server = _server(client, user, password, token, scope)
    assert _check(instance, user, token, scope) == server


def test_the_table_covers_grants_and_every_kind_of_refusal(
    world: tuple[Instance, TestClient],
) -> None:
    _, client = world
    outcomes = {_server(client, u, p, t, s) for u, p, t, s in CALLERS}
    assert {
        "denied auth.license_revoked",
        "denied auth.invalid_credential",
        "denied auth.token_expired",
        "granted nothing",
        "granted pull",
        "granted pull,push",
    } <= outcomes
