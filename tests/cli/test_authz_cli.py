"""groups, rules, tokens create, check, policy test and audit from the command line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.cli.test_cli import cfg, home, run  # noqa: F401 — the fixture is reused

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_policy_example_passes(tmp_path: Path) -> None:
    for name in ("policy-test.toml", "policy-test.regauth.toml"):
        shutil.copy(ROOT / "examples" / name, tmp_path / name)
    result = run(
        [
            "--config",
            str(tmp_path / "policy-test.regauth.toml"),
            "policy",
            "test",
            str(tmp_path / "policy-test.toml"),
        ]
    )
    assert result.exit_code == 0, result.output
    assert "13 passed, 0 failed" in result.output


def test_policy_test_fails_on_a_mismatch(home: Path, tmp_path: Path) -> None:  # noqa: F811
    cases = tmp_path / "cases.toml"
    cases.write_text(
        '[[case]]\nname = "wrong"\nuser = "alice"\n'
        'scope = "repository:alice/x:push"\nexpect = ["pull"]\n'
    )
    result = run([*cfg(home), "policy", "test", str(cases)])
    assert result.exit_code == 1
    assert "FAIL  wrong: pull,push" not in result.output
    assert "FAIL  wrong: push (expected pull)" in result.output
    assert "0 passed, 1 failed" in result.output


def test_policy_test_rejects_a_bad_file(home: Path, tmp_path: Path) -> None:  # noqa: F811
    cases = tmp_path / "cases.toml"
    cases.write_text('[[case]]\nscope = "Not A Scope"\n')
    result = run([*cfg(home), "policy", "test", str(cases)])
    assert result.exit_code == 1
    assert "scope" in result.output


def test_groups_rules_and_check(home: Path) -> None:  # noqa: F811
    c = cfg(home)
    assert run([*c, "users", "add", "alice", "--password-stdin"], stdin="pw\n").exit_code == 0
    assert run([*c, "groups", "add", "dev"]).exit_code == 0
    assert run([*c, "groups", "members", "dev", "--add", "alice"]).output.strip() == "alice"
    out = run(
        [
            *c,
            "rules",
            "add",
            "--group",
            "dev",
            "--name",
            "team/**",
            "--actions",
            "pull,push",
            "--comment",
            "dev team",
        ]
    ).output
    assert "group:dev\t1\trepository:team/**\tpull,push  # dev team" in out
    run([*c, "rules", "add", "--user", "alice", "--name", "team/secret/**", "--deny"])
    run(
        [
            *c,
            "rules",
            "add",
            "--user",
            "alice",
            "--name",
            "team/app",
            "--actions",
            "delete",
            "--position",
            "1",
        ]
    )
    listing = run([*c, "rules", "list", "--user", "alice"]).output.splitlines()
    assert listing[0] == "user alice:"
    rows = [line.split() for line in listing[2:]]
    assert [(row[0], row[2]) for row in rows] == [
        ("1", "repository:team/app"),
        ("2", "repository:team/secret/**"),
    ]
    check = run(
        [
            *c,
            "check",
            "--user",
            "alice",
            "--scope",
            "repository:team/app:pull,push,delete",
            "--scope",
            "repository:team/secret/x:pull",
        ]
    )
    assert check.exit_code == 0, check.output
    assert (
        "repository:team/app  requested pull,push,delete → granted pull,push,delete" in check.output
    )
    assert "account  pull,push,delete" in check.output
    assert "repository:team/secret/x  requested pull → granted nothing" in check.output
    assert "explicit deny" in check.output
    rule_id = rows[0][1]
    assert run([*c, "rules", "move", rule_id, "2"]).exit_code == 0
    assert run([*c, "rules", "remove", rule_id]).exit_code == 0
    assert run([*c, "rules", "remove", rule_id]).exit_code == 2
    bad = run([*c, "rules", "add", "--user", "alice", "--name", "x/**", "--actions", "PULL"])
    assert bad.exit_code == 2


def test_rules_need_exactly_one_owner(home: Path) -> None:  # noqa: F811
    result = run([*cfg(home), "rules", "add", "--name", "x", "--actions", "pull"])
    assert result.exit_code == 2
    assert "owner: give exactly one of user or group" in result.output


def test_tokens_create_and_check_with_token(home: Path) -> None:  # noqa: F811
    c = cfg(home)
    run([*c, "users", "add", "alice", "--password-stdin"], stdin="pw\n")
    out = run(
        [
            *c,
            "tokens",
            "create",
            "--user",
            "alice",
            "--name",
            "ci",
            "--expires",
            "30d",
            "--rule",
            "name=alice/**;actions=pull",
        ]
    ).output
    lines = out.strip().splitlines()
    assert lines[-1].startswith("regauth_pat_")
    token_id = lines[0].split()[1]
    listing = run([*c, "tokens", "list", "--user", "alice"]).output
    assert token_id in listing
    assert lines[-1] not in listing
    check = run(
        [
            *c,
            "check",
            "--user",
            "alice",
            "--token-id",
            token_id,
            "--scope",
            "repository:alice/app:pull,push",
        ]
    )
    assert "granted pull" in check.output
    assert f"token {token_id}: token:{token_id}:1" in check.output
    assert run([*c, "tokens", "revoke", token_id]).exit_code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--expires", "soon"], "30d"),
        (["--rule", "actions=pull"], "name="),
        (["--rule", "name=x;bogus=1"], "unknown rule part"),
        (["--rule", "name=x;actions=PULL"], "invalid"),
    ],
)
def test_tokens_create_rejects_bad_input(home: Path, args: list[str], message: str) -> None:  # noqa: F811
    run([*cfg(home), "users", "add", "alice", "--password-stdin"], stdin="pw\n")
    result = run([*cfg(home), "tokens", "create", "--user", "alice", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_check_anonymous_and_licence(home: Path) -> None:  # noqa: F811
    out = run(
        [*cfg(home), "check", "--anonymous", "--scope", "repository:public/x:pull,push"]
    ).output
    assert "granted pull" in out
    usage = run([*cfg(home), "check", "--scope", "repository:public/x:pull"])
    assert usage.exit_code == 2


def test_audit_list_empty_and_filters(home: Path) -> None:  # noqa: F811
    result = run([*cfg(home), "audit", "list", "--since", "15m", "--denied"])
    assert result.exit_code == 0
    assert result.output == ""
    assert run([*cfg(home), "audit", "list", "--since", "yesterday"]).exit_code == 2
