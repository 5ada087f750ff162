"""issue(): identify → authorize each requested resource → mint (SPEC §1, §3, §4).

The one use case of the token endpoint, independent of HTTP. Every decision,
issued or refused, is handed to the audit sink with its trace.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from regauth.authn.chain import IdentityChain
from regauth.domain.claims import TokenRequestFacts, token_claims
from regauth.domain.credentials import Credential, RefreshCredential
from regauth.domain.policy import Grant, Stage, evaluate
from regauth.domain.principal import Principal
from regauth.domain.rules import RequestContext
from regauth.domain.scope import ResourceActions
from regauth.errors import ProblemError, UnknownService
from regauth.keys import TokenSigner
from regauth.ports import AsyncStage, CallerFacts, Clock, Random

REFRESHABLE_SOURCES = frozenset({"local", "refresh_token"})


@dataclass(frozen=True, slots=True)
class TokenRequest:
    scopes: tuple[ResourceActions, ...]
    facts: CallerFacts
    offline: bool = False
    client_id: str = ""

    @property
    def service(self) -> str:
        return self.facts.service

    @property
    def client_ip(self) -> str | None:
        return self.facts.client_ip


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_in: int
    issued_at: datetime
    principal: Principal
    grants: tuple[Grant, ...]
    refresh_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One token decision: who, from where, requested, granted, and why."""

    at: datetime
    outcome: str  # "issued" | "denied"
    service: str
    client_ip: str | None
    subject: str | None
    source: str | None
    requested: tuple[ResourceActions, ...]
    grants: tuple[Grant, ...] = ()
    error_code: str = ""


class AuditSink(Protocol):
    def record(self, event: AuditEvent) -> None: ...


class RefreshIssuer(Protocol):
    async def issue(self, subject: str, client_id: str) -> str: ...


@dataclass(frozen=True, slots=True)
class TokenPolicy:
    issuer: str
    ttl: int
    services: frozenset[str]
    stages: tuple[Stage, ...]
    async_stages: tuple[AsyncStage, ...] = ()


class TokenService:
    def __init__(
        self,
        *,
        policy: Callable[[], TokenPolicy],
        identity: IdentityChain,
        signer: Callable[[], TokenSigner],
        refresh: RefreshIssuer,
        audit: AuditSink,
        clock: Clock,
        random: Random,
    ) -> None:
        self._policy = policy
        self._identity = identity
        self._signer = signer
        self._refresh = refresh
        self._audit = audit
        self._clock = clock
        self._random = random

    async def issue(self, credential: Credential | None, request: TokenRequest) -> IssuedToken:
        """Mint a token or raise a ProblemError; either way an audit event is recorded."""
        policy = self._policy()
        principal: Principal | None = None
        try:
            _check_service(policy.services, request.service)
            principal = await self._identity.identify(credential, request.facts)
            issued = await self._mint(policy, principal, credential, request)
        except ProblemError as error:
            self._audit.record(self._event(request, principal, (), error.code))
            raise
        self._audit.record(self._event(request, principal, issued.grants, ""))
        return issued

    async def _mint(
        self,
        policy: TokenPolicy,
        principal: Principal,
        credential: Credential | None,
        request: TokenRequest,
    ) -> IssuedToken:
        ctx = RequestContext(principal, request.service, request.client_ip)
        grants = evaluate(policy.stages, request.scopes, ctx)
        for stage in policy.async_stages:
            grants = tuple(
                [await stage.apply(g, ctx, request.facts) if g.actions else g for g in grants]
            )
        now = self._clock.now()
        facts = TokenRequestFacts(
            issuer=policy.issuer,
            subject=principal.subject,
            audience=request.service,
            issued_at=int(now.timestamp()),
            ttl=policy.ttl,
            jti=self._random.token_urlsafe(18),
        )
        token = self._signer().sign(token_claims(facts, grants))
        refresh = await self._refresh_token(principal, credential, request)
        return IssuedToken(
            token, policy.ttl, now.replace(microsecond=0), principal, grants, refresh
        )

    async def _refresh_token(
        self, principal: Principal, credential: Credential | None, request: TokenRequest
    ) -> str | None:
        if not request.offline or principal.source not in REFRESHABLE_SOURCES:
            return None
        if isinstance(credential, RefreshCredential):
            return credential.token  # reusable: hand the same one back
        return await self._refresh.issue(principal.subject, request.client_id)

    def _event(
        self,
        request: TokenRequest,
        principal: Principal | None,
        grants: tuple[Grant, ...],
        code: str,
    ) -> AuditEvent:
        return AuditEvent(
            at=self._clock.now(),
            outcome="denied" if code else "issued",
            service=request.service,
            client_ip=request.client_ip,
            subject=principal.subject if principal else None,
            source=principal.source if principal else None,
            requested=request.scopes,
            grants=grants,
            error_code=code,
        )


def _check_service(services: frozenset[str], service: str) -> None:
    if services and service not in services:
        raise UnknownService("the requested service is not served by this token server")
