"""`config validate` catches what `serve` would fail on; lint findings are only warnings."""

from __future__ import annotations

from pathlib import Path

import pytest

from regauth.keys import Algorithm, KeyStore
from regauth.ports import SystemClock
from tests.cli.test_cli import cfg, home, run  # noqa: F401 — the fixture is reused

GOOD = "sha256:" + "ab" * 32
API_KEY = '[[auth.api_keys]]\nid = "ci"\nhash_env = "CI_KEY_SHA"\nscopes = ["repository:*:pull"]\n'


def _config(tmp_path: Path, extra: str = "", passphrase: bytes | None = None) -> Path:
    text = '[token]\nservices = ["reg.test"]\n[database]\nurl = "sqlite:///r.db"\n'
    if passphrase is not None:
        (tmp_path / "pass").write_bytes(passphrase + b"\n")
        text += '[keys]\npassphrase_file = "pass"\n'
    path = tmp_path / "regauth.toml"
    path.write_text(text + extra)
    return path


@pytest.fixture
def keyed(tmp_path: Path) -> Path:
    KeyStore(tmp_path / "keys", SystemClock(), passphrase=b"right one").generate(Algorithm.ES256)
    return tmp_path


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "environment variable CI_KEY_SHA is not set"),
        ({"CI_KEY_SHA": "sha256:abc"}, "must hold 'sha256:' followed by 64 lowercase hex"),
        ({"CI_KEY_SHA": GOOD.upper()}, "must hold 'sha256:'"),
    ],
)
def test_api_key_fingerprints_missing_or_malformed_fail(
    keyed: Path, env: dict[str, str], message: str
) -> None:
    path = _config(keyed, API_KEY, passphrase=b"right one")
    result = run(["config", "validate", str(path)], env=env)
    assert result.exit_code == 1
    assert "auth.api_keys[0].hash_env" in result.output and message in result.output
    assert "sha256:abc" not in result.output


def test_a_good_configuration_passes(keyed: Path) -> None:
    path = _config(keyed, API_KEY, passphrase=b"right one")
    result = run(["config", "validate", str(path)], env={"CI_KEY_SHA": GOOD})
    assert result.exit_code == 0, result.output
    assert "ok (0 rules" in result.output


def test_a_passphrase_that_does_not_decrypt_the_key_fails(keyed: Path) -> None:
    path = _config(keyed, passphrase=b"not it")
    result = run(["config", "validate", str(path)])
    assert result.exit_code == 1
    assert "passphrase" in result.output and "not it" not in result.output


def test_missing_keys_fail_and_every_error_is_reported(tmp_path: Path) -> None:
    result = run(["config", "validate", str(_config(tmp_path, API_KEY))])
    assert result.exit_code == 1
    assert "no signing key" in result.output and "CI_KEY_SHA is not set" in result.output


def test_lint_findings_are_warnings_with_exit_status_0(home: Path) -> None:  # noqa: F811
    c = cfg(home)
    run([*c, "users", "add", "alice", "--password-stdin"], stdin="pw\n")
    run([*c, "rules", "add", "--user", "alice", "--name", "team/**", "--actions", "pull"])
    run([*c, "rules", "add", "--user", "alice", "--name", "team/secret/**", "--deny"])
    config = home / "regauth.toml"
    config.write_text(
        config.read_text() + '\n[[rules]]\nname = "**"\nactions = ["pull"]\n'
        '\n[[rules]]\nname = "late/**"\nactions = ["push"]\n'
    )
    result = run([*c, "config", "validate"])
    assert result.exit_code == 0, result.output
    assert "warning: lint error: user alice: user:alice#2: deny never applies" in result.output
    assert "config:6: unreachable: config:5 comes first" in result.output
    assert "ok (6 rules" in result.output
