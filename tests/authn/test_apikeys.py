"""API keys: fingerprints from the environment, constant-time matching, outcomes (seed 002)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

import pytest
from pydantic import ValidationError

from regauth.authn.apikeys import ApiKeys, fingerprint
from regauth.authn.chain import IdentityChain
from regauth.config.apikeys import ApiKeySettings
from regauth.config.rules import RuleSettings
from regauth.domain.credentials import (
    ApiKeyCredential,
    BasicCredential,
    BearerCredential,
    Credential,
    RefreshCredential,
)
from regauth.errors import ConfigError, InvalidCredential
from regauth.ports import Authenticated, CallerFacts, NoOpinion, Outcome, Rejected

pytestmark = pytest.mark.anyio

CI_KEY = "regauth_ak_ci-raw-key-0123456789abcdefghijklmnopqrstuv"
OPS_KEY = "regauth_ak_ops-raw-key-0123456789abcdefghijklmnopqrstu"
FACTS = CallerFacts(client_ip="192.0.2.1", service="registry.test")
ENV = {"CI_API_KEY_HASH": fingerprint(CI_KEY), "OPS_API_KEY_HASH": fingerprint(OPS_KEY)}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def settings(**extra: object) -> list[ApiKeySettings]:
    return [
        ApiKeySettings(id="ci", hash_env="CI_API_KEY_HASH", scopes=("pull",), **extra),  # type: ignore[arg-type]
        ApiKeySettings(id="ops", hash_env="OPS_API_KEY_HASH", scopes=("admin", "push")),
    ]


@pytest.fixture
def keys() -> ApiKeys:
    return ApiKeys.build(settings(), ENV)


async def authenticate(keys: ApiKeys, credential: Credential) -> Outcome:
    return await keys.authenticate(credential, FACTS)


def test_fingerprint_is_sha256_hex_with_prefix() -> None:
    assert fingerprint("abc") == "sha256:" + hashlib.sha256(b"abc").hexdigest()


# --- build: fingerprints from the environment ------------------------------------------------


def test_build_loads_every_key(keys: ApiKeys) -> None:
    assert keys.ids == {"ci", "ops"}
    assert len(keys) == 2
    assert keys.name == "apikey"


def test_no_keys_is_fine() -> None:
    assert len(ApiKeys.build([], {})) == 0


def test_missing_variable_names_it_and_the_path() -> None:
    with pytest.raises(ConfigError) as caught:
        ApiKeys.build(settings(), {"CI_API_KEY_HASH": ENV["CI_API_KEY_HASH"]})
    assert caught.value.path == "auth.api_keys[1].hash_env"
    assert "OPS_API_KEY_HASH" in str(caught.value)
    assert "not set" in str(caught.value)


GOOD_HEX = hashlib.sha256(b"some key").hexdigest()


@pytest.mark.parametrize(
    "value",
    [
        "",
        GOOD_HEX,  # no prefix
        "sha256:" + GOOD_HEX.upper(),
        "SHA256:" + GOOD_HEX,
        "sha256:" + GOOD_HEX + "\n",
        " sha256:" + GOOD_HEX,
        "sha256:" + GOOD_HEX[:-1],
        "sha256:" + GOOD_HEX + "0",
        "sha256:" + GOOD_HEX[:-1] + "g",
        "sha512:" + GOOD_HEX,
        "sha256:" + hashlib.sha256(b"").hexdigest(),  # the empty key
    ],
)
def test_malformed_fingerprint_stops_start_without_echoing_it(value: str) -> None:
    env = {**ENV, "OPS_API_KEY_HASH": value}
    with pytest.raises(ConfigError) as caught:
        ApiKeys.build(settings(), env)
    message = str(caught.value)
    assert caught.value.path == "auth.api_keys[1].hash_env"
    assert "OPS_API_KEY_HASH" in message
    assert GOOD_HEX not in message.lower()
    if value.strip():
        assert value.strip() not in message


def test_duplicate_ids_are_refused() -> None:
    entries = [*settings(), ApiKeySettings(id="ci", hash_env="OTHER_HASH")]
    env = {**ENV, "OTHER_HASH": fingerprint("another key")}
    with pytest.raises(ConfigError) as caught:
        ApiKeys.build(entries, env)
    assert caught.value.path == "auth.api_keys[2].id"
    assert "'ci'" in str(caught.value)


def test_two_ids_with_one_raw_key_are_refused() -> None:
    entries = [*settings(), ApiKeySettings(id="ci2", hash_env="CI2_HASH")]
    env = {**ENV, "CI2_HASH": ENV["CI_API_KEY_HASH"]}
    with pytest.raises(ConfigError) as caught:
        ApiKeys.build(entries, env)
    assert caught.value.path == "auth.api_keys[2].hash_env"
    assert "auth.api_keys[0]" in str(caught.value)
    assert ENV["CI_API_KEY_HASH"] not in str(caught.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", ""),
        ("id", "has space"),
        ("id", "slash/no"),
        ("hash_env", ""),
        ("hash_env", "1STARTS_WITH_DIGIT"),
        ("hash_env", "HAS-DASH"),
        ("hash_env", "REGAUTH_CI_HASH"),  # would be read as a config override
    ],
)
def test_settings_shape(field: str, value: str) -> None:
    data = {"id": "ci", "hash_env": "CI_API_KEY_HASH", field: value}
    with pytest.raises(ValidationError):
        ApiKeySettings.model_validate(data)


def test_settings_refuse_unknown_fields_and_are_frozen() -> None:
    with pytest.raises(ValidationError):
        ApiKeySettings.model_validate({"id": "ci", "hash_env": "X", "key": "raw"})
    entry = ApiKeySettings(id="ci", hash_env="X")
    with pytest.raises(ValidationError):
        entry.id = "other"


# --- authenticate ----------------------------------------------------------------------------


async def test_x_api_key_match_gives_the_key_principal(keys: ApiKeys) -> None:
    outcome = await authenticate(keys, ApiKeyCredential(OPS_KEY))
    assert isinstance(outcome, Authenticated)
    p = outcome.principal
    assert (p.subject, p.source, p.groups, p.token_id) == ("ops", "apikey", frozenset(), "ops")
    assert p.claims == {"scopes": ["admin", "push"]}
    assert p.token_rules is None


async def test_x_api_key_mismatch_is_rejected(keys: ApiKeys) -> None:
    outcome = await authenticate(keys, ApiKeyCredential("regauth_ak_wrong"))
    assert isinstance(outcome, Rejected)
    assert isinstance(outcome.error, InvalidCredential)
    assert outcome.error.code == "auth.invalid_credential"
    assert outcome.error.status == 401


async def test_each_rejection_is_a_fresh_error(keys: ApiKeys) -> None:
    first = await authenticate(keys, ApiKeyCredential("x"))
    second = await authenticate(keys, ApiKeyCredential("y"))
    assert isinstance(first, Rejected)
    assert isinstance(second, Rejected)
    assert first.error is not second.error


async def test_bearer_match_and_mismatch(keys: ApiKeys) -> None:
    outcome = await authenticate(keys, BearerCredential(CI_KEY))
    assert isinstance(outcome, Authenticated)
    assert outcome.principal.subject == "ci"
    # Not one of ours: maybe an OIDC JWT for the next source.
    assert await authenticate(keys, BearerCredential("eyJhbGciOi.x.y")) == NoOpinion()


async def test_basic_with_key_id_as_username(keys: ApiKeys) -> None:
    ok = await authenticate(keys, BasicCredential("ci", CI_KEY))
    assert isinstance(ok, Authenticated)
    assert ok.principal.subject == "ci"
    wrong = await authenticate(keys, BasicCredential("ci", "not-the-key"))
    assert isinstance(wrong, Rejected)
    # Another key's raw value does not log in as this id.
    crossed = await authenticate(keys, BasicCredential("ci", OPS_KEY))
    assert isinstance(crossed, Rejected)


async def test_basic_with_other_username_is_not_ours(keys: ApiKeys) -> None:
    assert await authenticate(keys, BasicCredential("alice", CI_KEY)) == NoOpinion()
    assert await authenticate(keys, BasicCredential("alice", "pw")) == NoOpinion()


async def test_other_credentials_are_not_ours(keys: ApiKeys) -> None:
    assert await authenticate(keys, RefreshCredential(CI_KEY)) == NoOpinion()


async def test_empty_keyring_has_no_opinion_on_bearer_and_rejects_x_api_key() -> None:
    empty = ApiKeys.build([], {})
    assert await authenticate(empty, BearerCredential(CI_KEY)) == NoOpinion()
    assert isinstance(await authenticate(empty, ApiKeyCredential(CI_KEY)), Rejected)


async def test_rules_become_token_rules() -> None:
    rule = RuleSettings(name="public/**", actions=("pull",))
    keys = ApiKeys.build(settings(rules=(rule,)), ENV)
    outcome = await authenticate(keys, ApiKeyCredential(CI_KEY))
    assert isinstance(outcome, Authenticated)
    rules = outcome.principal.token_rules
    assert rules is not None
    assert [(r.rule_id, r.actions) for r in rules] == [("apikey:ci:1", ("pull",))]


async def test_claims_are_not_shared_between_logins(keys: ApiKeys) -> None:
    first = await authenticate(keys, ApiKeyCredential(CI_KEY))
    assert isinstance(first, Authenticated)
    scopes = first.principal.claims["scopes"]
    assert isinstance(scopes, list)
    scopes.append("admin")
    second = await authenticate(keys, ApiKeyCredential(CI_KEY))
    assert isinstance(second, Authenticated)
    assert second.principal.claims == {"scopes": ["pull"]}


async def test_every_fingerprint_is_compared(
    keys: ApiKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real: Callable[[bytes, bytes], bool] = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append(1)
        return real(a, b)

    monkeypatch.setattr("regauth.authn.apikeys.hmac.compare_digest", counting)
    for raw in (CI_KEY, OPS_KEY, "nope"):
        calls.clear()
        keys.match(raw)
        assert len(calls) == 2  # no early exit on the first match or mismatch


async def test_raw_key_never_appears_in_reprs_or_errors(keys: ApiKeys) -> None:
    outcome = await authenticate(keys, ApiKeyCredential(CI_KEY + "x"))
    assert isinstance(outcome, Rejected)
    texts = [repr(outcome), str(outcome.error), repr(ApiKeyCredential(CI_KEY)), repr(keys)]
    ok = await authenticate(keys, ApiKeyCredential(CI_KEY))
    texts.append(repr(ok))
    assert not any(CI_KEY in t for t in texts)


async def test_in_a_chain_a_foreign_bearer_reaches_the_next_source(keys: ApiKeys) -> None:
    class Oidc:
        name = "oidc"

        async def authenticate(self, credential: Credential, facts: CallerFacts) -> Outcome:
            return Rejected(InvalidCredential("from oidc"))

    chain = IdentityChain([keys, Oidc()])
    assert (await chain.identify(BearerCredential(OPS_KEY), FACTS)).subject == "ops"
    with pytest.raises(InvalidCredential, match="from oidc"):
        await chain.identify(BearerCredential("a.jwt.token"), FACTS)
