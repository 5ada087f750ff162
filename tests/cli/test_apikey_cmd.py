"""``regauth apikey new``: a raw key, its fingerprint, and config that accepts it."""

from __future__ import annotations

import hashlib
import re
import tomllib

import anyio
import pytest
from click.testing import CliRunner, Result

from regauth.authn.apikeys import ApiKeys
from regauth.cli.apikey_cmd import command, default_env_var
from regauth.config.apikeys import ApiKeySettings
from regauth.domain.credentials import ApiKeyCredential
from regauth.ports import Authenticated, CallerFacts

RAW = re.compile(r"^  (regauth_ak_[A-Za-z0-9_-]{43})$", re.MULTILINE)
FINGERPRINT = re.compile(r"^  (sha256:[0-9a-f]{64})$", re.MULTILINE)


def run(*args: str) -> Result:
    return CliRunner().invoke(command, list(args), catch_exceptions=False)


def test_new_prints_key_fingerprint_export_and_toml() -> None:
    result = run("new", "ci-bot")
    assert result.exit_code == 0, result.output
    raw_match, fp_match = RAW.search(result.output), FINGERPRINT.search(result.output)
    assert raw_match is not None
    assert fp_match is not None
    raw, fingerprint = raw_match.group(1), fp_match.group(1)
    assert fingerprint == "sha256:" + hashlib.sha256(raw.encode()).hexdigest()
    assert f"export CI_BOT_API_KEY_HASH='{fingerprint}'" in result.output.splitlines()
    toml = result.output[result.output.index("[[auth.api_keys]]") :]
    assert tomllib.loads(toml) == {
        "auth": {"api_keys": [{"id": "ci-bot", "hash_env": "CI_BOT_API_KEY_HASH", "scopes": []}]}
    }


def test_printed_config_accepts_the_printed_key() -> None:
    output = run("new", "deploy.prod", "--env-var", "DEPLOY_KEY").output
    raw_match, fp_match = RAW.search(output), FINGERPRINT.search(output)
    assert raw_match is not None
    assert fp_match is not None
    toml = tomllib.loads(output[output.index("[[auth.api_keys]]") :])
    entries = [ApiKeySettings.model_validate(e) for e in toml["auth"]["api_keys"]]
    keys = ApiKeys.build(entries, {"DEPLOY_KEY": fp_match.group(1)})
    facts = CallerFacts(client_ip=None, service="registry.test")

    async def main() -> None:
        outcome = await keys.authenticate(ApiKeyCredential(raw_match.group(1)), facts)
        assert isinstance(outcome, Authenticated)
        assert outcome.principal.subject == "deploy.prod"

    anyio.run(main)


def test_every_key_is_new() -> None:
    first, second = RAW.search(run("new", "a").output), RAW.search(run("new", "a").output)
    assert first is not None
    assert second is not None
    assert first.group(1) != second.group(1)


@pytest.mark.parametrize(
    ("key_id", "env_var"),
    [
        ("ci", "CI_API_KEY_HASH"),
        ("ci-bot.prod", "CI_BOT_PROD_API_KEY_HASH"),
        ("Intake_Service", "INTAKE_SERVICE_API_KEY_HASH"),
        ("1st", "KEY_1ST_API_KEY_HASH"),
        ("regauth", "KEY_REGAUTH_API_KEY_HASH"),  # REGAUTH_* are config overrides
    ],
)
def test_default_env_var(key_id: str, env_var: str) -> None:
    assert default_env_var(key_id) == env_var
    ApiKeySettings(id=key_id, hash_env=env_var)


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["new", "bad id"], "id:"),
        (["new", "ci", "--env-var", "BAD-NAME"], "hash_env:"),
        (["new", "ci", "--env-var", "REGAUTH_CI"], "hash_env:"),
    ],
)
def test_bad_input_is_a_usage_error_and_prints_no_key(args: list[str], complaint: str) -> None:
    result = run(*args)
    assert result.exit_code == 2
    assert complaint in result.output
    assert "regauth_ak_" not in result.output
