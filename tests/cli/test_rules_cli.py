"""Rule order as `rules list` shows it, the rule lint, and validation of rule input."""

from __future__ import annotations

from pathlib import Path

from tests.cli.test_cli import cfg, home, run  # noqa: F401 — the fixture is reused


def _add(c: list[str], *args: str) -> str:
    result = run([*c, "rules", "add", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_deny_after_a_covering_allow_is_flagged_by_add_and_lint(home: Path) -> None:  # noqa: F811
    c = cfg(home)
    run([*c, "users", "add", "alice", "--password-stdin"], stdin="pw\n")
    _add(c, "--user", "alice", "--name", "team/**", "--actions", "pull,push")
    added = run([*c, "rules", "add", "--user", "alice", "--name", "team/secret/**", "--deny"])
    assert added.exit_code == 0
    assert "deny never applies" in added.output and "move the deny above it" in added.output
    lint = run([*c, "rules", "lint"])
    assert lint.exit_code == 1
    assert "error: user alice: user:alice#2: deny never applies: user:alice#1" in lint.output
    assert "1 error(s)" in lint.output
    # Moving the deny first fixes it.
    assert run([*c, "rules", "move", "2", "1"]).exit_code == 0
    fixed = run([*c, "rules", "lint"])
    assert fixed.exit_code == 0, fixed.output
    assert "0 error(s), 0 warning(s)" in fixed.output


def test_lint_flags_shadowed_never_matching_and_unknown_groups(home: Path) -> None:  # noqa: F811
    c = cfg(home)
    run([*c, "users", "add", "alice", "--password-stdin"], stdin="pw\n")
    run([*c, "groups", "add", "devs"])
    _add(c, "--group", "devs", "--name", "**", "--actions", "pull")
    _add(c, "--group", "devs", "--name", "team/*", "--actions", "push")
    _add(c, "--user", "alice", "--name", "${group}/**", "--actions", "pull")
    config = home / "regauth.toml"
    config.write_text(
        config.read_text()
        + '\n[[rules]]\ngroup = "ghosts"\nname = "g/**"\nactions = ["pull"]\n'
        + '\n[[rules]]\nanonymous = true\nname = "${account}/**"\nactions = ["pull"]\n'
    )
    out = run([*c, "rules", "lint"]).output
    assert "error: group devs: group:devs#2: unreachable: group:devs#1 comes first" in out
    assert "user:alice#3: never matches: ${group} in a user's rule" in out
    assert "warning: global rules: config:5: no local group named 'ghosts'" in out
    assert "config:6: never matches: ${account} on a rule for anonymous callers" in out


def test_rules_list_shows_every_list_with_its_positions(home: Path) -> None:  # noqa: F811
    c = cfg(home)
    run([*c, "users", "add", "alice", "--password-stdin"], stdin="pw\n")
    run([*c, "groups", "add", "devs"])
    _add(c, "--user", "alice", "--name", "a/**", "--actions", "pull")
    _add(c, "--group", "devs", "--name", "d/**", "--actions", "pull")
    _add(c, "--user", "alice", "--name", "b/**", "--actions", "push", "--position", "1")
    lines = run([*c, "rules", "list"]).output.splitlines()
    titles = [line for line in lines if not line.startswith(" ")]
    assert titles == ["user alice:", "group devs:", "global (config file):"]
    alice = lines[2:4]
    assert [line.split()[:3] for line in alice] == [
        ["1", "3", "repository:b/**"],
        ["2", "1", "repository:a/**"],
    ]
    # Columns are aligned: every row of a list starts its RESOURCE at the same offset.
    header = lines[1]
    assert all(line.index("repository:") == header.index("RESOURCE") for line in alice)
    assert any("public/**" in line and "anyone" in line for line in lines)


def test_rule_input_is_validated_with_a_suggestion(home: Path) -> None:  # noqa: F811
    c = cfg(home)
    run([*c, "users", "add", "alice", "--password-stdin"], stdin="pw\n")
    cases = [
        (["--name", "x/**", "--actions", "pul"], "did you mean pull?"),
        (["--name", "x/[", "--actions", "pull"], "name: '[' cannot appear"),
        (["--name", "x/**"], "no actions given"),
        (["--name", "x/**", "--actions", "pull", "--deny"], "a deny rule has no actions"),
    ]
    for args, message in cases:
        result = run([*c, "rules", "add", "--user", "alice", *args])
        assert result.exit_code == 2, result.output
        assert message in result.output
    assert "\n" not in run([*c, "rules", "list", "--user", "alice"]).output.strip()


def test_names_are_validated_everywhere_they_enter(home: Path) -> None:  # noqa: F811
    c = cfg(home)
    empty = run([*c, "users", "add", "", "--password-stdin"], stdin="pw\n")
    assert empty.exit_code == 2 and "name: a name cannot be empty" in empty.output
    upper = run([*c, "users", "add", "Bob", "--robot"])
    assert upper.exit_code == 2 and "not a valid name" in upper.output
    group = run([*c, "users", "add", "bob", "--robot", "--group", "bad group"])
    assert group.exit_code == 2 and "groups[0]" in group.output
    rule = run([*c, "rules", "add", "--group", "", "--name", "x", "--actions", "pull"])
    assert rule.exit_code == 2 and "group: a name cannot be empty" in rule.output


def test_config_rules_are_validated_by_the_loader(home: Path) -> None:  # noqa: F811
    config = home / "regauth.toml"
    config.write_text(config.read_text() + '\n[[rules]]\nname = "x/**"\nactions = ["pul"]\n')
    result = run([*cfg(home), "config", "validate"])
    assert result.exit_code == 1
    assert "did you mean pull?" in result.output


def test_a_command_on_a_missing_database_fails_instead_of_creating_one(
    home: Path,  # noqa: F811
) -> None:
    (home / "regauth.db").unlink()
    result = run([*cfg(home), "users", "list"])
    assert result.exit_code == 2
    assert "does not exist: run `regauth init`" in result.output
    assert not (home / "regauth.db").exists()


def test_token_rules_without_actions_need_an_explicit_deny(home: Path) -> None:  # noqa: F811
    c = cfg(home)
    run([*c, "users", "add", "alice", "--password-stdin"], stdin="pw\n")
    bare = run([*c, "tokens", "create", "--user", "alice", "--rule", "name=x/**"])
    assert bare.exit_code == 2 and "no actions given" in bare.output
    typo = run([*c, "tokens", "create", "--user", "alice", "--rule", "name=x/**;actions=pul"])
    assert typo.exit_code == 2 and "did you mean pull?" in typo.output
    deny = run(
        [
            *c,
            "tokens",
            "create",
            "--user",
            "alice",
            "--rule",
            "name=x/**;deny",
            "--rule",
            "name=**;actions=pull",
        ]
    )
    assert deny.exit_code == 0, deny.output


def test_htpasswd_import_skips_invalid_names(home: Path, tmp_path: Path) -> None:  # noqa: F811
    hashed = "$2y$04$" + "a" * 53
    file = tmp_path / "htpasswd"
    file.write_text(f"Carol Smith:{hashed}\ndave:{hashed}\n")
    result = run([*cfg(home), "users", "import-htpasswd", str(file)])
    assert result.exit_code == 0, result.output
    assert "skipped 'Carol Smith': " in result.output
    assert "imported 1 users, skipped 0 existing" in result.output


def test_group_placeholder_in_a_group_list_stands_for_that_group(home: Path) -> None:  # noqa: F811
    c = cfg(home)
    run([*c, "users", "add", "alice", "--group", "devs", "--password-stdin"], stdin="pw\n")
    _add(c, "--group", "devs", "--name", "${group}/**", "--actions", "pull,push")
    out = run([*c, "check", "--user", "alice", "--scope", "repository:devs/app:push"]).output
    assert "→ granted push" in out
    other = run([*c, "check", "--user", "alice", "--scope", "repository:ops/app:push"]).output
    assert "→ granted nothing" in other
    assert "0 error(s)" in run([*c, "rules", "lint"]).output
