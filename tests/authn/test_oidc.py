"""OIDC bearer JWTs against a real IdP (oidc-provider, see idp_fixture.py)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import ValidationError

from regauth.authn.oidc import OidcAuthenticator
from regauth.authn.oidc_claims import build_principal, check_registered_claims
from regauth.config.oidc import OidcIssuerSettings
from regauth.domain.credentials import BasicCredential, BearerCredential, Credential
from regauth.errors import (
    ConfigError,
    InvalidCredential,
    JwksUnavailable,
    KidUnknown,
    ScopeDenied,
    TokenExpired,
)
from regauth.ports import Authenticated, CallerFacts, NoOpinion, Outcome, Rejected
from tests.authn.idp_fixture import (
    Idp,
    SettableClock,
    clock,
    free_port,
    idp,
    start_idp,
    unverified_claims,
    unverified_kid,
)

__all__ = ["clock", "idp"]  # fixtures

pytestmark = pytest.mark.anyio

FACTS = CallerFacts(client_ip="192.0.2.7", service="registry.example", url="https://auth/token")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class JwksCounter:
    """Counts JWKS fetches through the client handed to the authenticator."""

    fetches: int = 0

    async def __call__(self, request: httpx.Request) -> None:
        if request.url.path == "/jwks":
            self.fetches += 1


def settings(idp: Idp, **overrides: object) -> OidcIssuerSettings:
    values: dict[str, object] = {
        "issuer": idp.issuer,
        "audience": "regauth",
        "discovery_url": idp.discovery_url,
    }
    return OidcIssuerSettings.model_validate(values | overrides)


@asynccontextmanager
async def authenticator(
    idp: Idp, clock: SettableClock, *, counter: JwksCounter | None = None, **overrides: object
) -> AsyncIterator[OidcAuthenticator]:
    hooks: dict[str, list[Callable[..., Any]]] = (
        {"request": [counter]} if counter is not None else {}
    )
    async with httpx.AsyncClient(event_hooks=hooks) as http:
        auth = await OidcAuthenticator.start(
            {"corp": settings(idp, **overrides)}, clock=clock, http=http
        )
        try:
            yield auth
        finally:
            await auth.aclose()


def mint(
    claims: dict[str, object], *, kid: str, key: ec.EllipticCurvePrivateKey | None = None
) -> str:
    """A token signed by a key the IdP never published."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    now = int(time.time())
    body = {"aud": "regauth", "sub": "mallory", "iat": now, "exp": now + 300} | claims
    return jwt.encode(body, key, algorithm="ES256", headers={"kid": kid})


def rejected_with(outcome: Outcome, error: type[Exception], code: str) -> None:
    assert isinstance(outcome, Rejected), outcome
    assert type(outcome.error) is error
    assert outcome.error.code == code


async def test_valid_token_gives_principal(idp: Idp, clock: SettableClock) -> None:
    token = await idp.token(scope="registry.token.issue pull")
    scope_map = {"registry.token.issue": "token:issue"}
    async with authenticator(idp, clock, scope_map=scope_map) as auth:
        outcome = await auth.authenticate(BearerCredential(token), FACTS)
    assert isinstance(outcome, Authenticated)
    principal = outcome.principal
    assert (principal.subject, principal.source) == ("ci-runner", "oidc")
    assert principal.groups == {"ci", "team-a"}
    assert principal.claims["scopes"] == ["token:issue", "pull"]
    assert principal.claims["issuer_name"] == "corp"
    assert principal.claims["client_id"] == "ci-runner"
    assert principal.token_id == unverified_claims(token)["jti"]


async def test_jwt_as_basic_password(idp: Idp, clock: SettableClock) -> None:
    token = await idp.token()
    async with authenticator(idp, clock) as auth:
        outcome = await auth.authenticate(BasicCredential("x-access-token", token), FACTS)
    assert isinstance(outcome, Authenticated)
    assert outcome.principal.subject == "ci-runner"


@pytest.mark.parametrize(
    "credential",
    [BasicCredential("alice", "hunter2"), BearerCredential("not-a-jwt"), BearerCredential("a.b.c")],
)
async def test_not_a_jwt_is_no_opinion(
    idp: Idp, clock: SettableClock, credential: Credential
) -> None:
    async with authenticator(idp, clock) as auth:
        assert isinstance(await auth.authenticate(credential, FACTS), NoOpinion)


async def test_wrong_audience(idp: Idp, clock: SettableClock) -> None:
    token = await idp.token(resource="urn:other")
    async with authenticator(idp, clock) as auth:
        outcome = await auth.authenticate(BearerCredential(token), FACTS)
    rejected_with(outcome, InvalidCredential, "auth.invalid_credential")
    async with authenticator(idp, clock, audience=["regauth", "other-service"]) as auth:
        assert isinstance(await auth.authenticate(BearerCredential(token), FACTS), Authenticated)


async def test_unconfigured_issuer_is_no_opinion(idp: Idp, clock: SettableClock) -> None:
    token = mint({"iss": "https://elsewhere.example"}, kid="k1")
    async with authenticator(idp, clock) as auth:
        assert isinstance(await auth.authenticate(BearerCredential(token), FACTS), NoOpinion)


async def test_configured_issuer_bad_signature(idp: Idp, clock: SettableClock) -> None:
    forged = mint({"iss": idp.issuer}, kid=(await idp.kids())[0])
    genuine = await idp.token()
    head, body, signature = genuine.split(".")
    tampered = f"{head}.{body}.{signature[:-4]}AAAA"
    async with authenticator(idp, clock) as auth:
        for token in (forged, tampered):
            outcome = await auth.authenticate(BearerCredential(token), FACTS)
            rejected_with(outcome, InvalidCredential, "auth.invalid_credential")


async def test_algorithm_not_allowed(idp: Idp, clock: SettableClock) -> None:
    token = await idp.token()  # ES256
    async with authenticator(idp, clock, algorithms=["RS256"]) as auth:
        outcome = await auth.authenticate(BearerCredential(token), FACTS)
    rejected_with(outcome, InvalidCredential, "auth.invalid_credential")


async def test_expired_beyond_leeway(idp: Idp, clock: SettableClock) -> None:
    token = await idp.token()
    exp = unverified_claims(token)["exp"]
    assert isinstance(exp, int)
    async with authenticator(idp, clock, leeway="30s") as auth:
        clock.advance(exp - clock.timestamp() + 29)  # within leeway
        assert isinstance(await auth.authenticate(BearerCredential(token), FACTS), Authenticated)
        clock.advance(2)
        outcome = await auth.authenticate(BearerCredential(token), FACTS)
    rejected_with(outcome, TokenExpired, "auth.token_expired")


async def test_unknown_kid_refreshes_once(idp: Idp, clock: SettableClock) -> None:
    counter = JwksCounter()
    token = mint({"iss": idp.issuer}, kid="never-published")
    async with authenticator(idp, clock, counter=counter) as auth:
        assert counter.fetches == 1  # at start
        clock.advance(11)
        outcome = await auth.authenticate(BearerCredential(token), FACTS)
        rejected_with(outcome, KidUnknown, "auth.kid_unknown")
        assert counter.fetches == 2
        outcome = await auth.authenticate(BearerCredential(token), FACTS)  # rate-limited
        rejected_with(outcome, KidUnknown, "auth.kid_unknown")
        assert counter.fetches == 2


async def test_concurrent_refreshes_are_coalesced(idp: Idp, clock: SettableClock) -> None:
    counter = JwksCounter()
    token = await idp.token()
    outcomes: list[Outcome] = []

    async def one() -> None:
        outcomes.append(await auth.authenticate(BearerCredential(token), FACTS))

    async with authenticator(idp, clock, counter=counter, jwks_cache_ttl="60s") as auth:
        clock.advance(61)  # the cached JWKS is stale: every request wants a refresh
        async with anyio.create_task_group() as group:
            for _ in range(8):
                group.start_soon(one)
    assert counter.fetches == 2
    assert all(isinstance(outcome, Authenticated) for outcome in outcomes)
    assert len(outcomes) == 8


async def test_key_rotation_at_the_idp(idp: Idp, clock: SettableClock) -> None:
    counter = JwksCounter()
    async with authenticator(idp, clock, counter=counter) as auth:
        before = await idp.token()
        assert isinstance(await auth.authenticate(BearerCredential(before), FACTS), Authenticated)
        new_kid = await idp.rotate()
        after = await idp.token()
        assert unverified_kid(after) == new_kid != unverified_kid(before)
        clock.advance(11)  # past the refresh rate limit counted from the start-up fetch
        assert isinstance(await auth.authenticate(BearerCredential(after), FACTS), Authenticated)
        assert isinstance(await auth.authenticate(BearerCredential(before), FACTS), Authenticated)
    assert counter.fetches == 2


async def test_jwks_unreachable_when_refresh_needed(
    tmp_path_factory: pytest.TempPathFactory, clock: SettableClock
) -> None:
    private = start_idp(tmp_path_factory.mktemp("idp-private"))
    try:
        token = await private.token()
        async with authenticator(private, clock) as auth:
            assert isinstance(
                await auth.authenticate(BearerCredential(token), FACTS), Authenticated
            )
            private.stop()
            clock.advance(11)
            unknown = mint({"iss": private.issuer}, kid="rotated-away")
            with pytest.raises(JwksUnavailable) as raised:
                await auth.authenticate(BearerCredential(unknown), FACTS)
            assert (raised.value.status, raised.value.code) == (503, "auth.jwks_unavailable")
            clock.advance(600)  # the cache expires: even a known kid needs the IdP now
            with pytest.raises(JwksUnavailable):
                await auth.authenticate(BearerCredential(token), FACTS)
            assert auth.health() == {"corp": False}
    finally:
        private.stop()


@pytest.mark.parametrize(
    ("url", "why"),
    [
        (lambda idp: f"http://127.0.0.1:{free_port()}/.well-known/openid-configuration", "failed"),
        (lambda idp: f"{idp.issuer}/no-such-document", "HTTP status 404"),
        (lambda idp: f"{idp.issuer}/jwks", "names issuer None"),
    ],
)
async def test_discovery_failure_stops_start(
    idp: Idp, clock: SettableClock, url: Callable[[Idp], str], why: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        async with authenticator(idp, clock, discovery_url=url(idp)):
            pass
    assert raised.value.path == "auth.oidc.corp.discovery_url"
    assert why in raised.value.message


async def test_jwks_url_instead_of_discovery(idp: Idp, clock: SettableClock) -> None:
    token = await idp.token()
    async with authenticator(idp, clock, discovery_url=None, jwks_url=idp.jwks_url) as auth:
        assert isinstance(await auth.authenticate(BearerCredential(token), FACTS), Authenticated)
    with pytest.raises(ConfigError) as raised:
        async with authenticator(idp, clock, discovery_url=None, jwks_url=f"{idp.issuer}/nope"):
            pass
    assert raised.value.path == "auth.oidc.corp.jwks_url"


async def test_own_http_client_is_closed(idp: Idp, clock: SettableClock) -> None:
    auth = await OidcAuthenticator.start({"corp": settings(idp)}, clock=clock)
    token = await idp.token()
    assert isinstance(await auth.authenticate(BearerCredential(token), FACTS), Authenticated)
    await auth.aclose()


async def test_same_issuer_twice_is_config_error(idp: Idp, clock: SettableClock) -> None:
    issuers = {"a": settings(idp), "b": settings(idp)}
    with pytest.raises(ConfigError) as raised:
        await OidcAuthenticator.start(issuers, clock=clock)
    assert raised.value.path == "auth.oidc.b.issuer"


@pytest.mark.parametrize(
    ("scope_claim", "scopes"),
    [
        ("scope", ["registry.token.issue", "pull"]),  # space-separated string
        ("roles", ["registry.token.issue", "repo:pull"]),  # JSON array
        ("urn:zitadel:iam:org:project:roles", ["registry.token.issue", "push"]),  # object keys
    ],
)
async def test_scope_claim_shapes(
    idp: Idp, clock: SettableClock, scope_claim: str, scopes: list[str]
) -> None:
    token = await idp.token(scope="registry.token.issue pull")
    scope_map = {"pull": "repo:pull"} if scope_claim == "roles" else {}
    async with authenticator(idp, clock, scope_claim=scope_claim, scope_map=scope_map) as auth:
        outcome = await auth.authenticate(BearerCredential(token), FACTS)
    assert isinstance(outcome, Authenticated)
    assert outcome.principal.claims["scopes"] == scopes


async def test_required_scope(idp: Idp, clock: SettableClock) -> None:
    without, with_scope = await idp.token(scope="pull"), await idp.token()
    async with authenticator(idp, clock, required_scope="registry.token.issue") as auth:
        with pytest.raises(ScopeDenied) as raised:
            await auth.authenticate(BearerCredential(without), FACTS)
        assert (raised.value.status, raised.value.code) == (403, "auth.scope_denied")
        assert "registry.token.issue" in raised.value.detail
        assert isinstance(
            await auth.authenticate(BearerCredential(with_scope), FACTS), Authenticated
        )
    issue_map = {"registry.token.issue": "issue"}
    async with authenticator(idp, clock, scope_map=issue_map, required_scope="issue") as auth:
        assert isinstance(
            await auth.authenticate(BearerCredential(with_scope), FACTS), Authenticated
        )


# --- pure parts: settings, claims, principal ---------------------------------------------


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (
            {
                "discovery_url": "https://idp/.well-known/openid-configuration",
                "jwks_url": "https://idp/jwks",
            },
            "not both",
        ),
        ({}, "neither is set"),
    ],
)
def test_settings_need_exactly_one_key_source(keys: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        OidcIssuerSettings.model_validate({"issuer": "https://idp", "audience": "r"} | keys)


def test_settings_parse_durations_and_lists() -> None:
    parsed = OidcIssuerSettings.model_validate(
        {
            "issuer": "https://idp",
            "audience": "regauth",
            "jwks_url": "https://idp/jwks",
            "jwks_cache_ttl": "10m",
            "leeway": 45,
            "dpop_max_age": "1h",
        }
    )
    assert parsed.audience == ("regauth",)
    assert (parsed.jwks_cache_ttl, parsed.leeway, parsed.dpop_max_age) == (600, 45, 3600)
    assert parsed.algorithms == ("RS256", "ES256")


@pytest.mark.parametrize(
    "bad",
    [{"algorithms": ["HS256"]}, {"algorithms": ["none"]}, {"leeway": "soon"}, {"extra": 1}],
)
def test_settings_refuse(bad: dict[str, object]) -> None:
    base = {"issuer": "https://idp", "audience": "r", "jwks_url": "https://idp/jwks"}
    with pytest.raises(ValidationError):
        OidcIssuerSettings.model_validate(base | bad)


@pytest.mark.parametrize(
    ("claims", "subject"),
    [
        ({"sub": "s", "client_id": "c", "azp": "a"}, "s"),
        ({"client_id": "c", "azp": "a"}, "c"),
        ({"sub": "", "azp": "a"}, "a"),
    ],
)
def test_subject_fallback(claims: dict[str, object], subject: str) -> None:
    principal = build_principal(
        claims | {"groups": "x y"}, issuer_name="n", scopes=(), groups_claim="groups"
    )
    assert not isinstance(principal, Exception)
    assert principal.subject == subject
    assert principal.groups == {"x", "y"}


def test_no_subject_is_rejected() -> None:
    error = build_principal({"jti": "j"}, issuer_name="n", scopes=(), groups_claim="groups")
    assert isinstance(error, InvalidCredential)


@pytest.mark.parametrize(
    ("claims", "code"),
    [
        ({"aud": ["x", "regauth"], "exp": 1000}, None),
        ({"aud": "regauth", "exp": 1000, "nbf": 1050}, None),  # within leeway
        ({"aud": "regauth", "exp": 1000, "nbf": 1100}, "auth.invalid_credential"),
        ({"aud": "regauth"}, "auth.invalid_credential"),
        ({"aud": "regauth", "exp": True}, "auth.invalid_credential"),
        ({"exp": 1000}, "auth.invalid_credential"),
        ({"aud": "regauth", "exp": 900}, "auth.token_expired"),
    ],
)
def test_registered_claims(claims: dict[str, object], code: str | None) -> None:
    error = check_registered_claims(claims, audience=("regauth",), now=1000, leeway=60)
    assert (error.code if error else None) == code


def test_token_id_absent_without_jti() -> None:
    principal = build_principal(
        {"sub": uuid.uuid4().hex}, issuer_name="n", scopes=(), groups_claim="g"
    )
    assert not isinstance(principal, Exception)
    assert principal.token_id is None
