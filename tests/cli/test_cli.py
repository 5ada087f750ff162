"""The ``regauth`` command, driven in-process with click's runner."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import bcrypt
import pytest
from click.testing import CliRunner, Result

from regauth.cli import cli

FAST = {
    "REGAUTH_PASSWORDS__TIME_COST": "1",
    "REGAUTH_PASSWORDS__MEMORY_COST": "1024",
    "REGAUTH_PASSWORDS__PARALLELISM": "1",
}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    result = run(
        ["init", "--dir", str(tmp_path / "var"), "--service", "reg.test", "--port", "5999"],
        env={"REGAUTH_ADMIN_PASSWORD": "admin-pw"},
    )
    assert result.exit_code == 0, result.output
    return tmp_path / "var"


def run(args: list[str], *, env: dict[str, str] | None = None, stdin: str | None = None) -> Result:
    return CliRunner().invoke(
        cli, args, input=stdin, env={**FAST, **(env or {})}, catch_exceptions=False
    )


def cfg(home: Path) -> list[str]:
    return ["--config", str(home / "regauth.toml")]


def test_init_writes_a_working_instance(home: Path) -> None:
    assert (home / "regauth.toml").is_file()
    assert (home / "regauth.db").is_file()
    bundle = (home / "registry-bundle.pem").read_text()
    assert bundle.count("BEGIN CERTIFICATE") == 1
    for key in (home / "keys").rglob("*.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert run([*cfg(home), "config", "validate"]).exit_code == 0


def test_init_prints_registry_snippet_and_generated_password(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "REGAUTH_ADMIN_PASSWORD"}
    result = CliRunner().invoke(
        cli,
        ["init", "--dir", str(tmp_path / "v"), "--no-ca"],
        env={**env, **FAST, "REGAUTH_ADMIN_PASSWORD": ""},
    )
    assert result.exit_code == 0, result.output
    assert "admin password (shown once):" in result.output
    assert "rootcertbundle:" in result.output
    assert "service: registry.local" in result.output


def test_init_refuses_to_overwrite(home: Path) -> None:
    result = run(["init", "--dir", str(home)])
    assert result.exit_code == 2
    assert "exists" in result.output


def test_users_lifecycle(home: Path) -> None:
    assert (
        run(
            [*cfg(home), "users", "add", "alice", "--group", "dev", "--password-stdin"],
            stdin="pw\n",
        ).exit_code
        == 0
    )
    dup = run([*cfg(home), "users", "add", "alice", "--password-stdin"], stdin="pw\n")
    assert dup.exit_code == 2
    assert "alice" in dup.output
    assert run([*cfg(home), "users", "disable", "alice"]).exit_code == 0
    listing = run([*cfg(home), "users", "list"]).output
    assert "alice\tuser\tdisabled\tdev" in listing
    assert "admin\tuser\tactive\tadmins" in listing
    assert (
        run([*cfg(home), "users", "passwd", "alice", "--password-stdin"], stdin="new\n").exit_code
        == 0
    )
    missing = run([*cfg(home), "users", "disable", "nobody"])
    assert missing.exit_code == 2


def test_users_add_without_password_input_is_a_usage_error(home: Path) -> None:
    result = run([*cfg(home), "users", "add", "carol"], stdin="")
    assert result.exit_code == 2
    assert "--password-stdin" in result.output


def test_import_htpasswd(home: Path, tmp_path: Path) -> None:
    hashed = bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode().replace("$2b$", "$2y$")
    file = tmp_path / "htpasswd"
    file.write_text(f"# comment\ncarol:{hashed}\nadmin:{hashed}\n")
    result = run([*cfg(home), "users", "import-htpasswd", str(file)])
    assert result.exit_code == 0, result.output
    assert "imported 1 users, skipped 1 existing" in result.output
    bad = tmp_path / "bad"
    bad.write_text("dave:{SHA}abcdef\n")
    result = run([*cfg(home), "users", "import-htpasswd", str(bad)])
    assert result.exit_code == 2
    assert "line 1" in result.output
    assert "abcdef" not in result.output


def test_keys_rotate_show_jwks_and_bundle(home: Path, tmp_path: Path) -> None:
    before = run([*cfg(home), "keys", "show"]).output
    assert "current" in before
    assert run([*cfg(home), "keys", "rotate"]).exit_code == 0
    after = run([*cfg(home), "keys", "show"]).output
    assert "retired (verifies until" in after
    jwks = run([*cfg(home), "keys", "jwks"]).output
    assert jwks.count('"kid"') == 2
    out = tmp_path / "bundle.pem"
    assert run([*cfg(home), "keys", "export-bundle", str(out)]).exit_code == 0
    assert out.read_bytes() == (home / "registry-bundle.pem").read_bytes()  # the CA is stable


def test_keys_import_pem(home: Path, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret-pass"),
    )
    (tmp_path / "k.pem").write_bytes(pem)
    (tmp_path / "pass").write_text("secret-pass\n")
    result = run(
        [
            *cfg(home),
            "keys",
            "import",
            "--key",
            str(tmp_path / "k.pem"),
            "--passphrase-file",
            str(tmp_path / "pass"),
        ]
    )
    assert result.exit_code == 0, result.output
    (tmp_path / "wrong").write_text("nope\n")
    bad = run(
        [
            *cfg(home),
            "keys",
            "import",
            "--key",
            str(tmp_path / "k.pem"),
            "--passphrase-file",
            str(tmp_path / "wrong"),
        ]
    )
    assert bad.exit_code == 2
    assert "nope" not in bad.output


def test_config_validate_reports_dotted_paths(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[token]\nttl = 'x'\n[[rules]]\nname='a'\nactions=['PULL']\n")
    result = run(["config", "validate", str(bad)])
    assert result.exit_code == 1
    assert "token.ttl" in result.output
    assert "rules[0].actions" in result.output


def test_tokens_list_and_revoke(home: Path) -> None:
    listing = run([*cfg(home), "tokens", "list"])
    assert listing.exit_code == 0
    assert listing.output == ""
    missing = run([*cfg(home), "tokens", "revoke", "abc"])
    assert missing.exit_code == 1
    assert "no active token abc" in missing.output
    assert run([*cfg(home), "tokens", "revoke", "--user", "admin"]).output.startswith("revoked 0")
