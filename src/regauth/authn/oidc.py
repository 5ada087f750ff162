"""OIDC bearer JWTs as credentials, optionally sender-constrained (SPEC §3, seeds 002 and 004).

The caller presents an access token issued by a trusted IdP — as
``Authorization: Bearer`` or as the Basic password (CI systems do that). The
token's unverified ``iss`` routes it to one configured issuer; a token from
an issuer we do not know gets :class:`~regauth.ports.NoOpinion` (another
source may know it). Then, in this order:

1. signature: ``alg`` in the issuer's ``algorithms`` (asymmetric only), key
   by ``kid`` from the JWKS (:mod:`regauth.authn.jwks`; an unknown kid
   triggers one rate-limited refresh, then ``auth.kid_unknown``);
2. claims: ``aud`` ∩ ``audience``, ``exp`` (``auth.token_expired`` beyond
   ``leeway``), ``nbf``;
3. sender constraint (:mod:`regauth.authn.dpop`): ``cnf.jkt`` → DPoP proof,
   ``cnf.x5t#S256`` → client certificate; ``require_sender_constraint``
   refuses unbound tokens;
4. ``required_scope`` among the (mapped) scopes, else 403 ``auth.scope_denied``
   (raised: it is not an authentication failure).

Outcomes: Authenticated (principal from ``sub``/``client_id``/``azp``),
Rejected (the token is ours and bad), NoOpinion. Raises JwksUnavailable (503)
when keys are needed and the IdP cannot be reached. Tokens and proofs are
never logged; rejections are logged at INFO with their reason.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import httpx
from jwt import PyJWS
from jwt.exceptions import PyJWTError

from regauth.authn.discovery import discovered_url, discovery_document
from regauth.authn.dpop import MemoryReplayCache, ProofFacts, ReplayCache, check_binding
from regauth.authn.jwks import FetchFailed, JwksCache
from regauth.authn.oidc_claims import (
    build_principal,
    check_registered_claims,
    looks_like_jwt,
    scopes_of,
    split_unverified,
)
from regauth.config.oidc import OidcIssuerSettings
from regauth.domain.credentials import BasicCredential, BearerCredential, Credential
from regauth.errors import (
    AuthenticationError,
    ConfigError,
    InvalidCredential,
    KidUnknown,
    ScopeDenied,
    SenderConstraintRequired,
)
from regauth.ports import Authenticated, CallerFacts, Clock, NoOpinion, Outcome, Rejected

log = logging.getLogger("regauth.authn.oidc")

HTTP_TIMEOUT = httpx.Timeout(5.0, connect=2.0)
_JWS = PyJWS()


@dataclass(frozen=True, slots=True)
class Issuer:
    """One configured issuer, ready: its settings and its key cache."""

    name: str
    settings: OidcIssuerSettings
    keys: JwksCache

    @property
    def path(self) -> str:
        return f"auth.oidc.{self.name}"


class OidcAuthenticator:
    """The ``oidc`` identity source. Build it with :meth:`start`; close it with :meth:`aclose`."""

    name = "oidc"

    def __init__(
        self,
        issuers: Sequence[Issuer],
        *,
        clock: Clock,
        http: httpx.AsyncClient,
        replay: ReplayCache,
        owns_http: bool = False,
    ) -> None:
        self._by_iss = {issuer.settings.issuer: issuer for issuer in issuers}
        self._clock = clock
        self._http = http
        self._replay = replay
        self._owns_http = owns_http

    @classmethod
    async def start(
        cls,
        issuers: Mapping[str, OidcIssuerSettings],
        *,
        clock: Clock,
        http: httpx.AsyncClient | None = None,
        replay: ReplayCache | None = None,
    ) -> OidcAuthenticator:
        """Discover and fetch every issuer's keys once; raise ConfigError if any fails.

        A client created here (timeouts: connect 2 s, read 5 s) is closed by
        :meth:`aclose`; a client passed in stays the caller's.
        """
        client = http if http is not None else httpx.AsyncClient(timeout=HTTP_TIMEOUT)
        try:
            ready = [await _start_issuer(n, s, client, clock) for n, s in issuers.items()]
            _refuse_duplicates(ready)
        except BaseException:
            if http is None:
                await client.aclose()
            raise
        return cls(
            ready,
            clock=clock,
            http=client,
            replay=replay if replay is not None else MemoryReplayCache(clock=clock),
            owns_http=http is None,
        )

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    def health(self) -> Mapping[str, bool]:
        """Issuer name → whether its last JWKS fetch succeeded (for ``/readyz``)."""
        return MappingProxyType({i.name: i.keys.healthy for i in self._by_iss.values()})

    async def authenticate(self, credential: Credential, facts: CallerFacts) -> Outcome:
        token = _token_of(credential)
        parsed = split_unverified(token) if token is not None else None
        if token is None or parsed is None:
            return NoOpinion()
        header, unverified = parsed
        iss = unverified.get("iss")
        issuer = self._by_iss.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            return NoOpinion()
        try:
            outcome = await self._verify(issuer, token, header, facts)
        except ScopeDenied as exc:
            log.info("oidc %s: token refused: %s (%s)", issuer.name, exc.code, exc.detail)
            raise
        if isinstance(outcome, Rejected):
            error = outcome.error
            log.info("oidc %s: token rejected: %s (%s)", issuer.name, error.code, error.detail)
        return outcome

    async def _verify(
        self, issuer: Issuer, token: str, header: Mapping[str, object], facts: CallerFacts
    ) -> Outcome:
        settings, now = issuer.settings, self._clock.now().timestamp()
        claims = await _verified_claims(issuer, token, header)
        if isinstance(claims, AuthenticationError):
            return Rejected(claims)
        error = check_registered_claims(
            claims, audience=settings.audience, now=now, leeway=settings.leeway
        ) or await self._check_sender(settings, claims, token, facts, now)
        if error is not None:
            return Rejected(error)
        scopes = scopes_of(claims.get(settings.scope_claim), settings.scope_map)
        if settings.required_scope is not None and settings.required_scope not in scopes:
            raise ScopeDenied(f"the token lacks the required scope {settings.required_scope!r}")
        principal = build_principal(
            claims, issuer_name=issuer.name, scopes=scopes, groups_claim=settings.groups_claim
        )
        if isinstance(principal, AuthenticationError):
            return Rejected(principal)
        return Authenticated(principal)

    async def _check_sender(
        self,
        settings: OidcIssuerSettings,
        claims: Mapping[str, object],
        token: str,
        facts: CallerFacts,
        now: float,
    ) -> AuthenticationError | None:
        cnf = claims.get("cnf")
        if cnf is None and settings.require_sender_constraint:
            return SenderConstraintRequired("this issuer's tokens must be DPoP- or mTLS-bound")
        proof_facts = ProofFacts(
            access_token=token,
            method=facts.method,
            url=facts.url,
            now=now,
            max_age=settings.dpop_max_age,
            leeway=settings.leeway,
        )
        return await check_binding(
            cnf, facts.headers.get("dpop"), facts.client_cert, proof_facts, self._replay
        )


def _token_of(credential: Credential) -> str | None:
    if isinstance(credential, BearerCredential):
        return credential.token
    if isinstance(credential, BasicCredential) and looks_like_jwt(credential.password):
        return credential.password
    return None


async def _verified_claims(
    issuer: Issuer, token: str, header: Mapping[str, object]
) -> dict[str, object] | AuthenticationError:
    """Signature check with the issuer's key named by ``kid``. May raise JwksUnavailable."""
    alg, kid = header.get("alg"), header.get("kid")
    if not isinstance(alg, str) or alg not in issuer.settings.algorithms:
        return InvalidCredential("the token's signing algorithm is not accepted")
    if "crit" in header or (kid is not None and not isinstance(kid, str)):
        return InvalidCredential("the token header is not acceptable")
    key = await issuer.keys.find(kid)
    if key is None:
        return KidUnknown("the token's signing key (kid) is not published by its issuer")
    if not key.accepts(alg):
        return InvalidCredential("the token's algorithm does not fit its signing key")
    try:
        claims = json.loads(_JWS.decode_complete(token, key=key.key, algorithms=[alg])["payload"])
    except (PyJWTError, ValueError):
        return InvalidCredential("the token signature does not verify")
    if not isinstance(claims, dict) or claims.get("iss") != issuer.settings.issuer:
        return InvalidCredential("the token's issuer is not accepted")
    return claims


async def _start_issuer(
    name: str, settings: OidcIssuerSettings, http: httpx.AsyncClient, clock: Clock
) -> Issuer:
    path = f"auth.oidc.{name}"
    jwks_url, url_path = settings.jwks_url, f"{path}.jwks_url"
    if settings.discovery_url is not None:
        url_path = f"{path}.discovery_url"
        jwks_url = await _discover(settings, http, url_path)
    assert jwks_url is not None  # the settings model guarantees one of the two
    keys = JwksCache(jwks_url, http=http, clock=clock, ttl=settings.jwks_cache_ttl, label=name)
    try:
        await keys.load()
    except FetchFailed as exc:
        raise ConfigError(
            f"could not fetch the JWKS from {jwks_url}: {exc}", path=url_path
        ) from None
    return Issuer(name=name, settings=settings, keys=keys)


async def _discover(settings: OidcIssuerSettings, http: httpx.AsyncClient, path: str) -> str:
    """The ``jwks_uri`` of the discovery document, which must name our issuer."""
    url = settings.discovery_url or ""
    document = await discovery_document(http, url, settings.issuer, path=path, issuer_path=path)
    return discovered_url(document, "jwks_uri", url, path)


def _refuse_duplicates(issuers: Sequence[Issuer]) -> None:
    seen: dict[str, str] = {}
    for issuer in issuers:
        other = seen.setdefault(issuer.settings.issuer, issuer.name)
        if other != issuer.name:
            raise ConfigError(
                f"issuer {issuer.settings.issuer!r} is also configured as auth.oidc.{other}",
                path=f"{issuer.path}.issuer",
            )
