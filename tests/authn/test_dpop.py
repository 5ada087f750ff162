"""Sender-constrained tokens (seed 004): DPoP (RFC 9449) and mTLS-bound (RFC 8705).

The tokens are real: oidc-provider binds them to our DPoP key (``cnf.jkt``)
or to the client certificate we hand it (``cnf.x5t#S256``; the test IdP reads
the certificate from a header because it speaks plain HTTP).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping

import jwt
import pytest

from regauth.authn.dpop import (
    MemoryReplayCache,
    access_token_hash,
    certificate_thumbprint,
    jwk_thumbprint,
    normalize_htu,
)
from regauth.authn.oidc import OidcAuthenticator
from regauth.config.oidc import OidcIssuerSettings
from regauth.domain.credentials import BearerCredential
from regauth.errors import DpopInvalid, InvalidCredential, SenderConstraintRequired
from regauth.ports import Authenticated, CallerFacts, Outcome, Rejected
from tests.authn.idp_fixture import (
    DpopKey,
    Idp,
    SettableClock,
    clock,
    idp,
    make_certificate,
    unverified_claims,
)

__all__ = ["clock", "idp"]  # fixtures

pytestmark = pytest.mark.anyio

TOKEN_URL = "https://auth.example/token"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def started(
    idp: Idp, clock: SettableClock, **overrides: object
) -> AsyncIterator[OidcAuthenticator]:
    values: dict[str, object] = {
        "issuer": idp.issuer,
        "audience": "regauth",
        "discovery_url": idp.discovery_url,
    }
    issuer = OidcIssuerSettings.model_validate(values | overrides)
    auth = await OidcAuthenticator.start({"corp": issuer}, clock=clock)
    try:
        yield auth
    finally:
        await auth.aclose()


@pytest.fixture
async def auth(idp: Idp, clock: SettableClock) -> AsyncIterator[OidcAuthenticator]:
    async for started_auth in started(idp, clock):
        yield started_auth


@pytest.fixture
async def strict(idp: Idp, clock: SettableClock) -> AsyncIterator[OidcAuthenticator]:
    async for started_auth in started(idp, clock, require_sender_constraint=True):
        yield started_auth


@pytest.fixture
def key() -> DpopKey:
    return DpopKey()


@pytest.fixture
async def bound(idp: Idp, key: DpopKey) -> str:
    token = await idp.token(dpop=key)
    assert unverified_claims(token)["cnf"] == {"jkt": key.thumbprint}
    return token


def facts(
    proof: str | None = None,
    *,
    method: str = "GET",
    url: str = TOKEN_URL,
    cert: bytes | None = None,
) -> CallerFacts:
    headers: Mapping[str, str] = {"dpop": proof} if proof is not None else {}
    return CallerFacts(
        client_ip="192.0.2.7",
        service="registry.example",
        method=method,
        url=url,
        headers=headers,
        client_cert=cert,
    )


def rejected_with(outcome: Outcome, error: type[Exception], code: str) -> str:
    assert isinstance(outcome, Rejected), outcome
    assert type(outcome.error) is error
    assert outcome.error.code == code
    return outcome.error.detail


async def test_valid_proof(auth: OidcAuthenticator, bound: str, key: DpopKey) -> None:
    proof = key.proof("GET", TOKEN_URL, access_token=bound)
    outcome = await auth.authenticate(BearerCredential(bound), facts(proof))
    assert isinstance(outcome, Authenticated)
    assert outcome.principal.subject == "ci-runner"
    assert outcome.principal.claims["cnf"] == {"jkt": key.thumbprint}


async def test_replayed_proof(auth: OidcAuthenticator, bound: str, key: DpopKey) -> None:
    proof = key.proof("GET", TOKEN_URL, access_token=bound)
    assert isinstance(await auth.authenticate(BearerCredential(bound), facts(proof)), Authenticated)
    outcome = await auth.authenticate(BearerCredential(bound), facts(proof))
    assert "replayed" in rejected_with(outcome, DpopInvalid, "auth.dpop_invalid")


async def test_htu_is_compared_normalized(
    auth: OidcAuthenticator, bound: str, key: DpopKey
) -> None:
    proof = key.proof("GET", "HTTPS://Auth.Example:443/token?x=1#f", access_token=bound)
    outcome = await auth.authenticate(BearerCredential(bound), facts(proof))
    assert isinstance(outcome, Authenticated)


def _without_ath(key: DpopKey, token: str, now: float) -> str:
    return key.proof("GET", TOKEN_URL)


@pytest.mark.parametrize(
    ("make_proof", "why"),
    [
        (
            lambda key, token, now: key.proof(
                "GET", "https://other.example/token", access_token=token
            ),
            "htu",
        ),
        (lambda key, token, now: key.proof("GET", f"{TOKEN_URL}/x", access_token=token), "htu"),
        (lambda key, token, now: key.proof("POST", TOKEN_URL, access_token=token), "htm"),
        (_without_ath, "ath"),
        (lambda key, token, now: key.proof("GET", TOKEN_URL, access_token=token + "x"), "ath"),
        (lambda key, token, now: DpopKey().proof("GET", TOKEN_URL, access_token=token), "cnf.jkt"),
        (
            lambda key, token, now: key.proof("GET", TOKEN_URL, access_token=token, iat=now - 301),
            "too old",
        ),
        (
            lambda key, token, now: key.proof("GET", TOKEN_URL, access_token=token, iat=now + 120),
            "future",
        ),
        (
            lambda key, token, now: key.proof("GET", TOKEN_URL, access_token=token, drop=("jti",)),
            "jti",
        ),
        (
            lambda key, token, now: key.proof("GET", TOKEN_URL, access_token=token, drop=("iat",)),
            "iat",
        ),
        (
            lambda key, token, now: key.proof(
                "GET", TOKEN_URL, access_token=token, header={"typ": "JWT"}
            ),
            "typ",
        ),
        (
            lambda key, token, now: key.proof(
                "GET", TOKEN_URL, access_token=token, header={"jwk": {**key.jwk, "d": "AAAA"}}
            ),
            "private",
        ),
        (
            # signed by another key but claiming the bound key in its jwk header
            lambda key, token, now: DpopKey().proof(
                "GET", TOKEN_URL, access_token=token, header={"jwk": key.jwk}
            ),
            "signature",
        ),
        (
            lambda key, token, now: jwt.encode(
                {"jti": "j", "htm": "GET", "htu": TOKEN_URL, "iat": int(now)},
                "a-shared-secret-of-32-bytes-long!",
                algorithm="HS256",
                headers={"typ": "dpop+jwt", "jwk": key.jwk},
            ),
            "alg",
        ),
        (lambda key, token, now: "not a jws", "compact JWS"),
        (
            lambda key, token, now: ", ".join(
                [key.proof("GET", TOKEN_URL, access_token=token)] * 2
            ),
            "exactly one",
        ),
    ],
)
async def test_invalid_proof(
    auth: OidcAuthenticator,
    bound: str,
    key: DpopKey,
    make_proof: Callable[[DpopKey, str, float], str],
    clock: SettableClock,
    why: str,
) -> None:
    proof = make_proof(key, bound, clock.timestamp())  # the time the authenticator sees
    outcome = await auth.authenticate(BearerCredential(bound), facts(proof))
    assert why in rejected_with(outcome, DpopInvalid, "auth.dpop_invalid")


async def test_no_proof_for_bound_token(auth: OidcAuthenticator, bound: str) -> None:
    outcome = await auth.authenticate(BearerCredential(bound), facts())
    assert "required" in rejected_with(outcome, DpopInvalid, "auth.dpop_invalid")


async def test_proof_age_uses_the_injected_clock(
    auth: OidcAuthenticator, bound: str, key: DpopKey, clock: SettableClock
) -> None:
    # iat from the injected clock (a busy machine takes seconds between the clock fixture and
    # here): fresh by the real time, 301 s old by the authenticator's clock
    proof = key.proof("GET", TOKEN_URL, access_token=bound, iat=clock.timestamp())
    clock.advance(301)
    outcome = await auth.authenticate(BearerCredential(bound), facts(proof))
    assert "too old" in rejected_with(outcome, DpopInvalid, "auth.dpop_invalid")


async def test_require_sender_constraint(
    strict: OidcAuthenticator, idp: Idp, bound: str, key: DpopKey
) -> None:
    unbound = await idp.token()
    outcome = await strict.authenticate(BearerCredential(unbound), facts())
    rejected_with(outcome, SenderConstraintRequired, "auth.sender_constraint_required")
    proof = key.proof("GET", TOKEN_URL, access_token=bound)
    assert isinstance(
        await strict.authenticate(BearerCredential(bound), facts(proof)), Authenticated
    )


async def test_certificate_bound_token(strict: OidcAuthenticator, idp: Idp) -> None:
    mine, other = make_certificate("ci-runner"), make_certificate("someone-else")
    token = await idp.token(client="mtls-runner", certificate=mine)
    assert unverified_claims(token)["cnf"] == {"x5t#S256": certificate_thumbprint(mine)}

    outcome = await strict.authenticate(BearerCredential(token), facts(cert=mine))
    assert isinstance(outcome, Authenticated)
    assert outcome.principal.subject == "mtls-runner"
    outcome = await strict.authenticate(BearerCredential(token), facts(cert=other))
    rejected_with(outcome, InvalidCredential, "auth.invalid_credential")
    outcome = await strict.authenticate(BearerCredential(token), facts())
    rejected_with(outcome, SenderConstraintRequired, "auth.sender_constraint_required")


# --- pure parts ----------------------------------------------------------------------------


def test_jwk_thumbprint_rfc7638_example() -> None:
    jwk = {
        "kty": "RSA",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1"
            "L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4"
            "QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbO"
            "pbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csF"
            "Cur-kEgU8awapJzKnqDKgw"
        ),
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        ("https://Auth.Example/token", "https://auth.example/token"),
        ("HTTPS://auth.example:443/token?q=1#frag", "https://auth.example/token"),
        ("http://auth.example:80", "http://auth.example/"),
        ("http://auth.example:8080/Token", "http://auth.example:8080/Token"),
        ("https://[::1]:5001/token", "https://[::1]:5001/token"),
    ],
)
def test_normalize_htu(url: str, normal: str) -> None:
    assert normalize_htu(url) == normal


def test_access_token_hash_rfc9449_example() -> None:
    token = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
    assert access_token_hash(token) == "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"


async def test_memory_replay_cache_expires_and_is_bounded(clock: SettableClock) -> None:
    cache = MemoryReplayCache(clock=clock, max_entries=2)
    now = clock.timestamp()
    assert not await cache.seen("a", now + 10)
    assert await cache.seen("a", now + 10)
    clock.advance(11)
    assert not await cache.seen("a", clock.timestamp() + 10)  # expired, so new again
    assert not await cache.seen("b", clock.timestamp() + 20)
    assert not await cache.seen("c", clock.timestamp() + 30)  # full: "a" is evicted
    assert not await cache.seen("a", clock.timestamp() + 10)
    assert await cache.seen("c", clock.timestamp() + 30)
