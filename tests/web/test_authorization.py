"""Issue flow through the whole pipeline: PATs, database rules, plans, licences, audit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from starlette.testclient import TestClient

from regauth.authn.pat import create_token
from regauth.ports import SystemRandom
from regauth.store import (
    AuditRecord,
    AuditStore,
    Database,
    RuleSpec,
    RuleStore,
    TokenStore,
    UserStore,
)
from tests.conftest import FrozenClock, Instance, make_instance
from tests.web.test_token_get import assert_problem, basic, decode, get_token

SEED_001_RULES = """
[[rules]]
group = "robots-none"
name = "**"
actions = []
deny = true
"""


def run_db(instance: Instance, fn: object) -> object:
    async def main() -> object:
        db = Database(instance.settings.database_url)
        try:
            return await fn(db)  # type: ignore[operator]
        finally:
            await db.dispose()

    return anyio.run(main)


def add_rule(
    instance: Instance,
    *,
    user: str | None = None,
    group: str | None = None,
    name: str,
    actions: tuple[str, ...],
) -> None:
    async def go(db: Database) -> None:
        await RuleStore(db, instance.clock).add(
            user=user, group=group, spec=RuleSpec(name, actions)
        )

    run_db(instance, go)


def new_pat(instance: Instance, user: str, rules: list[dict[str, object]] | None = None) -> str:
    async def go(db: Database) -> str:
        _, secret = await create_token(
            TokenStore(db, instance.clock),
            SystemRandom(),
            instance.clock,
            user=user,
            name="ci",
            expires_in=None,
            rules_json=json.dumps(rules or []),
        )
        return secret

    result = run_db(instance, go)
    assert isinstance(result, str)
    return result


@pytest.fixture
def seed001(tmp_path: Path, clock: FrozenClock) -> Iterator[tuple[Instance, TestClient]]:
    """Seed 001's worked example, with the rules in the database."""
    inst = make_instance(tmp_path, clock, rules=SEED_001_RULES)
    inst.add_user("alice", "alice-pw", ("team-a",))
    add_rule(inst, user="alice", name="public/**", actions=("pull",))
    add_rule(inst, user="alice", name="alice/**", actions=("push", "pull"))
    add_rule(inst, group="team-a", name="team-a/**", actions=("push", "pull"))
    with inst.client() as client:
        yield inst, client


def access(response: object) -> list[dict[str, object]]:
    body = response.json()  # type: ignore[attr-defined]
    claims = decode(body["token"])[1]
    result: list[dict[str, object]] = claims["access"]
    return result


SCOPES = (
    "repository:public/x:pull,push",
    "repository:alice/x:pull,push",
    "repository:team-a/x:pull,push",
    "repository:other/x:pull",
)


def test_seed_001_account_rules_from_the_database(seed001: tuple[Instance, TestClient]) -> None:
    _, client = seed001
    granted = access(get_token(client, *SCOPES, auth=basic("alice", "alice-pw")))
    assert granted == [
        {"type": "repository", "name": "public/x", "actions": ["pull"]},
        {"type": "repository", "name": "alice/x", "actions": ["pull", "push"]},
        {"type": "repository", "name": "team-a/x", "actions": ["pull", "push"]},
    ]


@pytest.mark.parametrize("as_bearer", [False, True])
def test_seed_001_token_rules_intersect(
    seed001: tuple[Instance, TestClient], as_bearer: bool
) -> None:
    inst, client = seed001
    secret = new_pat(inst, "alice", [{"name": "**", "actions": ["pull"]}])
    assert secret.startswith("regauth_pat_")
    auth = {"Authorization": f"Bearer {secret}"} if as_bearer else basic("alice", secret)
    granted = access(get_token(client, *SCOPES, auth=auth))
    assert granted == [
        {"type": "repository", "name": n, "actions": ["pull"]}
        for n in ("public/x", "alice/x", "team-a/x")
    ]


def test_pat_for_another_user_revoked_expired(seed001: tuple[Instance, TestClient]) -> None:
    inst, client = seed001
    inst.add_user("bob", "bob-pw")
    secret = new_pat(inst, "alice")
    assert_problem(get_token(client, auth=basic("bob", secret)), 401, "auth.invalid_credential")
    assert get_token(client, auth=basic("alice", secret)).status_code == 200

    async def revoke(db: Database) -> None:
        (record,) = await TokenStore(db, inst.clock).list(user_name="alice", kind="pat")
        assert record.last_used_at == inst.clock.now()
        await TokenStore(db, inst.clock).revoke(record.id)

    run_db(inst, revoke)
    r = get_token(client, auth=basic("alice", secret))
    assert_problem(r, 401, "auth.invalid_credential")
    assert secret not in r.text


def test_unknown_pat_costs_no_password_hash_and_is_refused(
    seed001: tuple[Instance, TestClient],
) -> None:
    _, client = seed001
    r = get_token(client, auth=basic("alice", "regauth_pat_forged"))
    assert_problem(r, 401, "auth.invalid_credential")


def test_audit_is_written_to_the_database(tmp_path: Path, clock: FrozenClock) -> None:
    inst = make_instance(tmp_path, clock, rules=SEED_001_RULES)
    inst.add_user("alice", "alice-pw", ("team-a",))
    add_rule(inst, user="alice", name="alice/**", actions=("pull",))
    with inst.client() as client:
        get_token(client, "repository:alice/x:pull,push", auth=basic("alice", "alice-pw"))
        get_token(client, "repository:alice/x:pull", auth=basic("alice", "wrong-pw"))

    async def events(db: Database) -> list[AuditRecord]:
        return await AuditStore(db).list()

    records = run_db(inst, events)
    assert isinstance(records, list)
    denied, issued = records
    assert denied.outcome == "denied" and denied.error_code == "auth.invalid_credential"
    assert issued.outcome == "issued" and issued.subject == "alice"
    doc = json.loads(issued.document)
    assert doc["requested"] == ["repository:alice/x:pull,push"]
    (grant,) = doc["granted"]
    assert grant["actions"] == ["pull"]
    assert grant["trace"][0]["stage"] == "account"
    assert grant["trace"][0]["reason"].startswith("user:alice#")
    assert "alice-pw" not in issued.document + denied.document


PLANS = """
default_plan = "free"
plan_claim = "plan"
license_claim = "license"
revoked_licenses = ["L-REVOKED"]
[plans.free]
repositories = ["public/*"]
[[plans.pro]]
repositories = ["public/*"]
[[plans.pro]]
repositories = ["acme/*"]
actions = ["pull", "push"]
"""
EVERYTHING = '[[rules]]\nname = "**"\nactions = ["*"]\n'


def set_attributes(instance: Instance, user: str, attributes: dict[str, str]) -> None:
    async def go(db: Database) -> None:
        await UserStore(db, instance.clock).set_attributes(user, attributes)

    run_db(instance, go)


@pytest.fixture
def planned(tmp_path: Path, clock: FrozenClock) -> Iterator[tuple[Instance, TestClient]]:
    inst = make_instance(tmp_path, clock, top=PLANS, rules=EVERYTHING)
    inst.add_user("free", "pw")
    inst.add_user("pro", "pw")
    inst.add_user("gone", "pw")
    set_attributes(inst, "pro", {"plan": "pro"})
    set_attributes(inst, "gone", {"plan": "pro", "license": "L-REVOKED"})
    with inst.client() as client:
        yield inst, client


@pytest.mark.parametrize(
    ("user", "scope", "expected"),
    [
        ("free", "repository:public/x:pull,push", ["pull"]),
        ("free", "repository:acme/x:pull", None),
        ("free", "repository:public/x/y:pull", None),  # * is one path segment
        ("pro", "repository:acme/x:pull,push", ["pull", "push"]),
        ("pro", "repository:public/x:push", None),
    ],
)
def test_plans_remove_actions_outside_the_plan(
    planned: tuple[Instance, TestClient], user: str, scope: str, expected: list[str] | None
) -> None:
    _, client = planned
    granted = access(get_token(client, scope, auth=basic(user, "pw")))
    name = scope.split(":")[1]
    assert granted == (
        [{"type": "repository", "name": name, "actions": expected}] if expected else []
    )


def test_revoked_licence_is_403_and_nothing_is_issued(planned: tuple[Instance, TestClient]) -> None:
    _, client = planned
    r = get_token(client, "repository:public/x:pull", auth=basic("gone", "pw"))
    body = assert_problem(r, 403, "auth.license_revoked")
    assert "token" not in body


def test_forbid_mode_answers_403_when_nothing_is_granted(
    tmp_path: Path, clock: FrozenClock
) -> None:
    inst = make_instance(tmp_path, clock, token_extra='on_denied = "forbid"')
    with inst.client() as client:
        assert_problem(get_token(client, "repository:private/x:pull"), 403, "auth.scope_denied")
        assert get_token(client, "repository:public/x:pull").status_code == 200
        assert get_token(client).status_code == 200  # no scope asked: a plain login


CEL = """
[global.access_policy]
default_allow = false
rules = ["identity.username != null", "request.namespace == 'public'"]

[repository."team".access_policy]
default_allow = true
rules = ["request.action == 'push' && !('dev' in identity.groups)"]
"""


def test_cel_policies_through_the_endpoint(tmp_path: Path, clock: FrozenClock) -> None:
    inst = make_instance(tmp_path, clock, top=CEL, rules=EVERYTHING_AND_ANON)
    inst.add_user("alice", "pw")
    inst.add_user("bob", "pw", ("dev",))
    with inst.client() as client:
        anon = access(get_token(client, "repository:public/x:pull", "repository:other/x:pull"))
        assert anon == [{"type": "repository", "name": "public/x", "actions": ["pull"]}]
        alice = access(
            get_token(client, "repository:team/app:pull,push", auth=basic("alice", "pw"))
        )
        assert alice == [{"type": "repository", "name": "team/app", "actions": ["pull"]}]
        bob = access(get_token(client, "repository:team/app:pull,push", auth=basic("bob", "pw")))
        assert bob == [{"type": "repository", "name": "team/app", "actions": ["pull", "push"]}]


EVERYTHING_AND_ANON = '[[rules]]\nname = "**"\nactions = ["*"]\n'


def test_cel_syntax_error_stops_start_up_with_the_dotted_path(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from regauth.cli import cli

    bad = tmp_path / "bad.toml"
    bad.write_text('[global.access_policy]\nrules = ["identity.username ==="]\n')
    result = CliRunner().invoke(cli, ["config", "validate", str(bad)])
    assert result.exit_code == 1
    assert "global.access_policy.rules[0]" in result.output
