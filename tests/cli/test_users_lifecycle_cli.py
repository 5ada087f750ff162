"""users show / remove / unlock, and the demo configuration's public pull."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from regauth.store.throttle import hashed_key
from tests.cli.test_cli import cfg, home, run  # noqa: F401 — the fixture is reused


def _sql(where: Path, query: str, *args: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(where / "regauth.db") as conn:
        return conn.execute(query, args).fetchall()


def test_the_demo_config_lets_signed_in_and_anonymous_callers_pull_public(
    home: Path,  # noqa: F811
) -> None:
    c = cfg(home)
    run([*c, "users", "add", "alice", "--password-stdin"], stdin="pw\n")
    for who in (["--user", "alice"], ["--anonymous"], ["--user", "admin"]):
        out = run([*c, "check", *who, "--scope", "repository:public/app:pull,push"]).output
        assert "requested pull,push → granted pull" in out or "granted pull,push" in out, out
    alice = run([*c, "check", "--user", "alice", "--scope", "repository:public/app:pull"])
    assert "→ granted pull" in alice.output
    assert "anyone = true" in (home / "regauth.toml").read_text()


def test_users_show_lists_groups_attributes_tokens_and_lock_state(home: Path) -> None:  # noqa: F811
    c = cfg(home)
    run([*c, "users", "add", "alice", "--group", "devs", "--password-stdin"], stdin="pw\n")
    run([*c, "users", "attr", "alice", "plan=pro"])
    token = run([*c, "tokens", "create", "--user", "alice", "--name", "ci"]).output.split()[1]
    shown = run([*c, "users", "show", "alice"])
    assert shown.exit_code == 0, shown.output
    out = shown.output
    assert "groups:     devs" in out and "attributes: plan=pro" in out
    assert token in out and "active" in out
    assert "lock:       not locked (0 failed logins in the window)" in out
    missing = run([*c, "users", "show", "nobody"])
    assert missing.exit_code == 2 and "user 'nobody' not found" in missing.output


def test_users_unlock_clears_the_account_counter(home: Path) -> None:  # noqa: F811
    c = cfg(home)
    run([*c, "users", "add", "bob", "--password-stdin"], stdin="pw\n")
    now = _sql(home, "SELECT created_at FROM users WHERE name = 'bob'")[0][0]
    _sql(
        home,
        "INSERT INTO auth_failures (key, window_start, count) VALUES (?, ?, 10)",
        hashed_key("account:bob"),
        now,
    )
    # A window started at the user's creation: the CLI's real clock is well within 300 s.
    assert "locked until" in run([*c, "users", "show", "bob"]).output
    unlocked = run([*c, "users", "unlock", "bob"])
    assert unlocked.exit_code == 0
    assert "unlocked bob (cleared 10 failed login(s))" in unlocked.output
    assert "not locked" in run([*c, "users", "show", "bob"]).output
    (change,) = _sql(
        home, "SELECT kind, subject, actor_kind, before FROM changes WHERE kind = 'user:unlock'"
    )
    assert change[:3] == ("user:unlock", "bob", "console")
    assert json.loads(str(change[3])) == {"failures": 10}


def test_users_remove_revokes_tokens_drops_rules_keeps_audit(home: Path) -> None:  # noqa: F811
    c = cfg(home)
    run([*c, "users", "add", "alice", "--group", "devs", "--password-stdin"], stdin="pw\n")
    run([*c, "tokens", "create", "--user", "alice"])
    run([*c, "rules", "add", "--user", "alice", "--name", "x/**", "--actions", "pull"])
    _sql(
        home,
        "INSERT INTO audit_events (at, outcome, subject, document)"
        " VALUES (?, 'issued', 'alice', '{}')",
        "2026-01-01 00:00:00",
    )
    ((uid,),) = _sql(home, "SELECT id FROM users WHERE name = 'alice'")
    assert _sql(home, "SELECT count(*) FROM memberships WHERE user_id = ?", uid) == [(1,)]
    refused = run([*c, "users", "remove", "alice"], stdin="n\n")
    assert refused.exit_code == 1
    removed = run([*c, "users", "remove", "alice", "--yes"])
    assert removed.exit_code == 0, removed.output
    assert "removed user alice (1 token(s) revoked)" in removed.output
    assert _sql(home, "SELECT count(*) FROM users WHERE name = 'alice'") == [(0,)]
    assert _sql(home, "SELECT count(*) FROM tokens") == [(0,)]
    assert _sql(home, "SELECT count(*) FROM rules") == [(0,)]
    assert _sql(home, "SELECT count(*) FROM memberships WHERE user_id = ?", uid) == [(0,)]
    assert _sql(home, "SELECT count(*) FROM audit_events WHERE subject = 'alice'") == [(1,)]
    kinds = [k for (k,) in _sql(home, "SELECT kind FROM changes ORDER BY id")]
    assert kinds == ["user:add", "token:create", "rule:add", "user:remove"]
    again = run([*c, "users", "remove", "alice", "--yes"])
    assert again.exit_code == 2 and "not found" in again.output


def test_passwd_disable_and_attr_are_admin_changes_by_the_console_actor(
    home: Path,  # noqa: F811
) -> None:
    c = cfg(home)
    run([*c, "users", "add", "carol", "--password-stdin"], stdin="pw\n")
    hash_before = _sql(home, "SELECT password_hash FROM users WHERE name = 'carol'")[0][0]
    changed = run(
        [*c, "users", "passwd", "carol", "--password-stdin", "--expires-in-days", "3"],
        stdin="pw2\n",
    )
    assert changed.exit_code == 0 and "password changed for carol" in changed.output
    [(hash_after, expires)] = _sql(
        home, "SELECT password_hash, password_expires_at FROM users WHERE name = 'carol'"
    )
    assert hash_after != hash_before and expires is not None
    run([*c, "users", "passwd", "carol", "--password-stdin"], stdin="pw3\n")  # no expiry: cleared
    assert _sql(home, "SELECT password_expires_at FROM users WHERE name = 'carol'") == [(None,)]
    assert run([*c, "users", "disable", "carol"]).output == "disabled carol\n"
    assert "carol\tuser\tdisabled\t-" in run([*c, "users", "list"]).output
    assert run([*c, "users", "disable", "carol", "--enable"]).output == "enabled carol\n"
    assert run([*c, "users", "attr", "carol", "plan=pro", "team=a"]).output == "plan=pro\nteam=a\n"
    assert run([*c, "users", "attr", "carol", "--unset", "team"]).output == "plan=pro\n"
    assert run([*c, "users", "attr", "carol"]).output == "plan=pro\n"

    rows = _sql(
        home,
        "SELECT actor_kind, kind, before, after FROM changes WHERE subject = 'carol' ORDER BY id",
    )
    assert [(r[0], r[1]) for r in rows] == [("console", "user:add")] + [
        ("console", "user:update")
    ] * 6
    for _, _, before, after in rows:  # hashes never reach the change log
        assert str(hash_before) not in f"{before}{after}"
        assert str(hash_after) not in f"{before}{after}"
    assert json.loads(str(rows[3][3]))["disabled"] is True
    assert json.loads(str(rows[-2][3]))["attributes"] == {"plan": "pro", "team": "a"}
    assert json.loads(str(rows[-1][3]))["attributes"] == {"plan": "pro"}  # showing records nothing

    for args in (
        ["passwd", "nobody", "--password-stdin"],
        ["disable", "nobody"],
        ["attr", "nobody"],
    ):
        missing = run([*c, "users", *args], stdin="pw\n")
        assert missing.exit_code == 2 and "user 'nobody' not found" in missing.output, args
    too_long = run([*c, "users", "attr", "carol", "k=" + "v" * 2000])
    assert too_long.exit_code == 2 and "attributes.k" in too_long.output
