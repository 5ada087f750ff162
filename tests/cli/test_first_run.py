"""The first run: version, effective realm, registry-config, port claims, start-up cost."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner, Result

from regauth.cli import cli
from regauth.cli.serve_cmd import _admin_password_note, claim_port
from regauth.config import load_settings

ROOT = Path(__file__).resolve().parents[2]
FAST = {
    "REGAUTH_PASSWORDS__TIME_COST": "1",
    "REGAUTH_PASSWORDS__MEMORY_COST": "1024",
    "REGAUTH_PASSWORDS__PARALLELISM": "1",
}
# Imported only by the commands that need them (`regauth users list` needs none).
HEAVY = (
    "granian",
    "uvicorn",
    "starlette",
    "celpy",
    "cel",
    "ldap3",
    "jwt",
    "cryptography",
    "httpx",
    "alembic",
    "argon2",
    "bcrypt",
    "prometheus_client",
    "jinja2",
    "mako",
    "anyio",
    "uvloop",
)
# Nor these parts of regauth and its dependencies (the database is SQLite).
LAYERS = ("regauth.web", "regauth.runtime", "regauth.service", "sqlalchemy.dialects.postgresql")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGAUTH_")}
    return {**env, **FAST, **extra}


def run(args: list[str], **env: str) -> Result:
    return CliRunner().invoke(cli, args, env=clean_env(**env), catch_exceptions=False)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    result = run(
        ["init", "--dir", str(tmp_path / "var"), "--service", "reg.test", "--port", "5999"],
        REGAUTH_ADMIN_PASSWORD="admin-pw",
    )
    assert result.exit_code == 0, result.output
    return tmp_path / "var"


def cfg(home: Path) -> list[str]:
    return ["--config", str(home / "regauth.toml")]


def regauth(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "regauth"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(**env),
        check=False,
    )


# --------------------------------------------------------------------------- version


def test_version_is_the_package_version() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    result = run(["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"regauth {declared}"


def test_help_lists_every_command() -> None:
    result = run(["--help"])
    assert result.exit_code == 0
    for name in ("init", "serve", "registry-config", "users", "tokens", "policy", "audit"):
        assert f"  {name} " in result.output


def _modules_after(argv: list[str], banned: set[str], extra: str = "") -> str:
    """Run ``regauth *argv`` in a fresh interpreter; its output, then ``LOADED [...]``: the
    top-level packages of ``banned`` that the call imported (and what ``extra`` prints)."""
    code = (
        "import sys\n"
        "from regauth.cli import main\n"
        f"sys.argv = ['regauth', *{argv!r}]\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        f"loaded = {{m.split('.')[0] for m in sys.modules}} & set({sorted(banned)!r})\n"
        "print('LOADED', sorted(loaded))\n" + extra
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_plain_cli_call_imports_no_server_or_crypto_stack(home: Path) -> None:
    layers = f"print('LAYERS', sorted(m for m in sys.modules if m.startswith({LAYERS!r})))\n"
    out = _modules_after(
        ["--config", str(home / "regauth.toml"), "users", "list"], set(HEAVY), layers
    )
    assert "LAYERS []" in out, out
    assert "admin\t" in out
    assert "LOADED []" in out, out


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["users", "--help"]])
def test_help_and_version_import_neither_the_database_nor_the_configuration(
    args: list[str],
) -> None:
    # Beyond HEAVY: no SQLAlchemy, no pydantic (the configuration), no asyncio.
    banned = {*HEAVY, "sqlalchemy", "pydantic", "aiosqlite", "asyncio", "greenlet"}
    out = _modules_after(args, banned)
    assert "LOADED []" in out, out


# --------------------------------------------------------------------------- realm


def test_init_prints_the_realm_of_its_port(tmp_path: Path) -> None:
    result = run(["init", "--dir", str(tmp_path / "v"), "--port", "5123"])
    assert result.exit_code == 0, result.output
    assert "realm: http://127.0.0.1:5123/token" in result.output
    assert "regauth registry-config" in result.output


def test_registry_config_realm_follows_environment_overrides(home: Path) -> None:
    plain = run([*cfg(home), "registry-config"])
    assert plain.exit_code == 0, plain.output
    assert 'realm: "http://127.0.0.1:5999/token"' in plain.output

    moved = run([*cfg(home), "registry-config"], REGAUTH_SERVER__PORT="6001")
    assert 'realm: "http://127.0.0.1:6001/token"' in moved.output
    wildcard = run([*cfg(home), "registry-config"], REGAUTH_SERVER__HOST="0.0.0.0")
    assert 'realm: "http://127.0.0.1:5999/token"' in wildcard.output
    explicit = run(
        [*cfg(home), "registry-config"], REGAUTH_TOKEN__REALM="https://auth.example/token"
    )
    assert 'realm: "https://auth.example/token"' in explicit.output


def test_registry_config_is_complete(home: Path) -> None:
    result = run([*cfg(home), "registry-config"])
    assert result.exit_code == 0, result.output
    text = result.output
    for needle in (
        "version: 0.1",
        "storage:",
        "rootdirectory:",
        "http:",
        "secret:",
        'service: "reg.test"',
        'issuer: "regauth"',
        f'rootcertbundle: "{home / "registry-bundle.pem"}"',
        "regauth keys export-bundle",
    ):
        assert needle in text, needle
    assert "jwks:" not in text
    assert "notifications:" not in text


def test_registry_config_with_notifications_needs_the_shared_secret(home: Path) -> None:
    refused = run([*cfg(home), "registry-config", "--notifications"])
    assert refused.exit_code == 2
    assert "events.registry.secret" in refused.output
    config = home / "regauth.toml"
    config.write_text(
        config.read_text() + '\n[events.registry]\nsecret_env = "TEST_NOTIFY"\n', "utf-8"
    )
    result = run([*cfg(home), "registry-config", "--notifications"], TEST_NOTIFY="s3cr3t")
    assert result.exit_code == 0, result.output
    assert "auth:" in result.output and "notifications:" in result.output
    assert 'url: "http://127.0.0.1:5999/events/registry"' in result.output
    assert 'Authorization: ["Bearer s3cr3t"]' in result.output
    only = run([*cfg(home), "registry-config", "--only-notifications"], TEST_NOTIFY="s3cr3t")
    assert only.output.startswith("notifications:\n") and "auth:" not in only.output


def test_registry_config_v3_without_x5c_uses_the_jwks_file(home: Path) -> None:
    env = {"REGAUTH_KEYS__X5C": "false", "REGAUTH_KEYS__KID": '"rfc7638"'}
    result = run([*cfg(home), "registry-config", "--v3"], **env)
    assert result.exit_code == 0, result.output
    assert f'jwks: "{home / "jwks.json"}"' in result.output
    assert "regauth keys jwks >" in result.output
    assert "rootcertbundle" not in result.output

    with_x5c = run([*cfg(home), "registry-config", "--v3"])
    assert "rootcertbundle:" in with_x5c.output and "jwks:" not in with_x5c.output


def test_registry_config_refuses_an_unknown_service(home: Path) -> None:
    result = run([*cfg(home), "registry-config", "--service", "other"])
    assert result.exit_code == 2
    assert "not in token.services" in result.output


# --------------------------------------------------------------------------- x5c


def test_config_validate_warns_about_x5c_false_with_the_libtrust_kid(home: Path) -> None:
    runner = CliRunner()
    warned = runner.invoke(
        cli, [*cfg(home), "config", "validate"], env=clean_env(REGAUTH_KEYS__X5C="false")
    )
    assert warned.exit_code == 0, warned.output
    assert 'warning: keys.x5c = false with keys.kid = "libtrust"' in warned.output
    quiet = runner.invoke(
        cli,
        [*cfg(home), "config", "validate"],
        env=clean_env(REGAUTH_KEYS__X5C="false", REGAUTH_KEYS__KID='"rfc7638"'),
    )
    assert quiet.exit_code == 0 and "warning" not in quiet.output


def test_x5c_false_is_a_setting_and_true_by_default(home: Path) -> None:
    assert load_settings(home / "regauth.toml", {}).keys.x5c is True
    off = load_settings(home / "regauth.toml", {"REGAUTH_KEYS__X5C": "false"})
    assert off.keys.x5c is False


# --------------------------------------------------------------------------- serve


def test_serve_on_a_taken_port_says_so_in_one_line(home: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = regauth(*cfg(home), "serve", "--port", str(port))
    assert result.returncode == 1
    assert result.stderr.strip() == f"regauth: port {port} is in use"
    assert "Traceback" not in result.stderr + result.stdout
    assert "serving on" not in result.stderr + result.stdout


def test_a_second_claim_of_the_same_port_fails() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    first = claim_port("127.0.0.1", port)
    assert first is not None
    try:
        assert claim_port("127.0.0.1", port) is None  # the lock, held by `first`
    finally:
        os.close(first)
    again = claim_port("127.0.0.1", port)
    assert again is not None
    os.close(again)


def test_admin_password_on_a_later_run_says_the_admin_exists(home: Path) -> None:
    settings = load_settings(home / "regauth.toml", {})
    note = anyio.run(_admin_password_note, settings)
    assert "the admin user exists already" in note
    assert "admin-pw" not in note


# The point where granian forks the workers: what `serve` has imported by then, every
# worker holds. Alembic (with Mako) is needed only when the schema is not current.
AT_FORK = """
import json, sys
import regauth.cli.serve_cmd as serve_cmd
def at_fork(host, port, workers):
    print("AT_FORK", json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
serve_cmd._serve_plain = at_fork
from regauth.cli import main
sys.argv = ["regauth", "--config", sys.argv[1], "serve", "--port", sys.argv[2]]
main()
"""


def _modules_at_fork(home: Path, **env: str) -> set[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = subprocess.run(
        [sys.executable, "-c", AT_FORK, str(home / "regauth.toml"), str(port)],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(**env),
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    line = next(x for x in out.stdout.splitlines() if x.startswith("AT_FORK "))
    return set(json.loads(line.removeprefix("AT_FORK ")))


def test_serve_forks_its_workers_without_alembic_when_the_schema_is_current(
    home: Path, tmp_path: Path
) -> None:
    loaded = _modules_at_fork(home)
    assert "sqlalchemy" in loaded  # the start-up checks did run
    assert not loaded & {"alembic", "mako", "jinja2"}, loaded & {"alembic", "mako", "jinja2"}
    fresh = tmp_path / "fresh.db"
    migrated = _modules_at_fork(home, REGAUTH_DATABASE__URL=f"sqlite:///{fresh}")
    assert "alembic" in migrated and fresh.is_file()  # a new database is still migrated
