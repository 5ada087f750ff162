"""issue(): identify → authorize each requested resource → mint (SPEC §1, §3, §4).

The use case of the token endpoint, independent of HTTP; ``decide()`` is the
authorization half on its own (``regauth check`` and ``policy test`` use it).
Every decision, issued or refused, is handed to the audit sink with its trace.

Stages, in order (SPEC §4): account rules (user ∪ groups ∪ global, explicit
deny), temporary grants (approved access requests), token rules, plan,
[licence check: 403 before anything], CEL policies, authorization webhooks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from regauth.authn.chain import IdentityChain
from regauth.domain.claims import TokenRequestFacts, token_claims
from regauth.domain.credentials import BasicCredential, Credential, RefreshCredential
from regauth.domain.grants import TemporaryGrant, TemporaryGrants
from regauth.domain.plans import Plans, license_revoked, plan_of
from regauth.domain.policy import AccountRules, Grant, Stage, TokenRules, evaluate
from regauth.domain.principal import ANONYMOUS, Principal
from regauth.domain.rules import RequestContext, Rule
from regauth.domain.scope import ResourceActions
from regauth.errors import (
    AuthenticationError,
    LicenseRevoked,
    ProblemError,
    ScopeDenied,
    UnknownService,
)
from regauth.keys import TokenSigner
from regauth.ports import AsyncStage, CallerFacts, Clock, Random

REFRESHABLE_SOURCES = frozenset({"local", "refresh_token", "ldap"})
MAX_AUDITED_NAME = 128
GroupRules = tuple[tuple[str, tuple[Rule, ...]], ...]


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
    # The name the caller presented (Basic/refresh username), also when the
    # login failed, was throttled or expired: who is trying to log in as bob.
    username: str | None = None

    @property
    def nothing_granted(self) -> bool:
        """Refused, or scopes were asked for and not one action was granted."""
        return self.outcome == "denied" or (
            bool(self.requested) and not any(g.actions for g in self.grants)
        )


class AuditSink(Protocol):
    def record(self, event: AuditEvent) -> None: ...


class RefreshIssuer(Protocol):
    async def issue(self, subject: str, client_id: str) -> str: ...


class LoginThrottle(Protocol):
    """Failed-login counters per account and per address (shared by all workers).

    ``now`` is the time of the request (read from the throttle's clock when not given).
    """

    async def check(
        self, username: str | None, client_ip: str | None, now: datetime | None = None
    ) -> None: ...

    async def failed(self, username: str | None, client_ip: str | None) -> None: ...

    async def succeeded(
        self, username: str | None, client_ip: str | None, now: datetime | None = None
    ) -> None: ...


class NoThrottle:
    async def check(
        self, username: str | None, client_ip: str | None, now: datetime | None = None
    ) -> None:
        return None

    async def failed(self, username: str | None, client_ip: str | None) -> None:
        return None

    async def succeeded(
        self, username: str | None, client_ip: str | None, now: datetime | None = None
    ) -> None:
        return None


class RuleSource(Protocol):
    """The principal's own and its groups' rules (from the database)."""

    async def rules_for(self, principal: Principal) -> tuple[tuple[Rule, ...], GroupRules]: ...


@dataclass(frozen=True, slots=True)
class TokenPolicy:
    """Everything configured about issuing; rebuilt and swapped as a whole on reload."""

    issuer: str
    ttl: int
    services: frozenset[str]
    config_rules: tuple[Rule, ...] = ()
    plans: Plans | None = None
    plan_claim: str = ""
    default_plan: str = ""
    license_claim: str = ""
    revoked_licenses: frozenset[str] = frozenset()
    policies: tuple[Stage, ...] = ()  # pure stages after the plan (CEL)
    async_stages: tuple[AsyncStage, ...] = ()  # webhooks
    on_denied: str = "narrow"


class GrantSource(Protocol):
    """Live temporary grants of one subject (approved access requests)."""

    async def active(self, subject: str, now: datetime) -> tuple[TemporaryGrant, ...]: ...


class Decider:
    """The authorization half: principal + requested scopes → grants with traces.

    What depends only on the configuration is built once per policy (the
    stages after the account rules); the account-rules stage is built once per
    rule lists (the rule source hands back the same lists object while its
    cache holds them: the anonymous caller's never change).
    """

    def __init__(
        self,
        policy: Callable[[], TokenPolicy],
        rules: RuleSource,
        clock: Clock,
        grants: GrantSource | None = None,
    ) -> None:
        self._policy = policy
        self._rules = rules
        self._clock = clock
        self._grants = grants
        self._compiled: _Compiled | None = None

    def _compile(self, policy: TokenPolicy) -> _Compiled:
        compiled = self._compiled
        if compiled is None or compiled.policy is not policy:
            compiled = self._compiled = _Compiled(policy)
        return compiled

    async def decide(
        self,
        principal: Principal,
        scopes: tuple[ResourceActions, ...],
        facts: CallerFacts,
        *,
        webhooks: bool = True,
        now: datetime | None = None,
    ) -> tuple[Grant, ...]:
        """Raise LicenseRevoked for a revoked licence; else every grant with its trace.

        ``now`` is the time of the request (read from the clock when not given).
        """
        policy = self._policy()
        compiled = self._compile(policy)
        if license_revoked(principal, policy.license_claim, policy.revoked_licenses):
            raise LicenseRevoked("the licence presented by this caller has been revoked")
        if now is None:
            now = self._clock.now()
        pipeline = compiled.pipeline(await self._rules.rules_for(principal))
        ctx: RequestContext | None = None
        if principal is ANONYMOUS and pipeline.memo is not None:
            # The anonymous caller's decision is a function of what it asked for, the
            # service and (when a rule looks at it) its address: remembered per rule lists.
            address = facts.client_ip if pipeline.uses_address else None
            key = (scopes, facts.service, address)
            grants = pipeline.memo.get(key)
            if grants is None:
                ctx = self._context(compiled, principal, facts, now)
                grants = pipeline.remember(key, evaluate(pipeline.stages, scopes, ctx))
        else:
            stages = pipeline.stages
            temporary: tuple[TemporaryGrant, ...] = ()
            if self._grants is not None and not principal.anonymous:
                temporary = await self._grants.active(principal.subject, now)
            if temporary:
                stages = (stages[0], TemporaryGrants(temporary), *stages[1:])
                ctx = self._context(compiled, principal, facts, now)
                grants = evaluate(stages, scopes, ctx)
            elif pipeline.memo is not None:
                # Without temporary grants (the only pure stage that reads the time) the
                # decision is a function of what the stages read of the principal and of
                # the request: remembered per rule lists, like the anonymous caller's.
                plan = compiled.plan(principal)
                rules = principal.token_rules
                basis: KnownKey = (
                    principal.subject,
                    principal.source,
                    principal.groups,
                    principal.token_id,
                    id(rules),  # the very rules (held in the entry: the id stays theirs)
                    plan,
                    scopes,
                    facts.service,
                    facts.client_ip,
                )
                found = pipeline.known.get(basis)
                if found is not None and found[0] is rules:
                    grants = found[1]
                else:
                    ctx = self._context(compiled, principal, facts, now, plan)
                    grants = evaluate(stages, scopes, ctx)
                    pipeline.remember_known(basis, rules, grants)
            else:
                ctx = self._context(compiled, principal, facts, now)
                grants = evaluate(stages, scopes, ctx)
        if webhooks and policy.async_stages:
            ctx = ctx or self._context(compiled, principal, facts, now)
            for stage in policy.async_stages:
                grants = tuple(
                    [await stage.apply(g, ctx, facts) if g.actions else g for g in grants]
                )
        return grants

    @staticmethod
    def _context(
        compiled: _Compiled,
        principal: Principal,
        facts: CallerFacts,
        now: datetime,
        plan: str | None = None,
    ) -> RequestContext:
        return RequestContext(
            principal,
            facts.service,
            facts.client_ip,
            at=int(now.timestamp()),
            plan=compiled.plan(principal) if plan is None else plan,
        )

    def check_request(self, request: TokenRequest, grants: tuple[Grant, ...] = ()) -> None:
        """The token endpoint's own refusals around ``decide`` (unknown service, on_denied)."""
        policy = self._policy()
        _check_service(policy.services, request.service)
        _check_denied(policy, request, grants)


AccountRuleLists = tuple[tuple[Rule, ...], GroupRules]
MAX_REMEMBERED = 4096
MAX_KNOWN = 256  # per rule lists (one user's, usually): decisions for identified callers
DecisionKey = tuple[tuple[ResourceActions, ...], str, str | None]
# subject, source, groups, token id, id(token rules), plan, scopes, service, address
KnownKey = tuple[
    str, str, frozenset[str], str | None, int, str, tuple[ResourceActions, ...], str, str | None
]


class _Pipeline:
    """The pure stages for one set of account rule lists, and the anonymous decisions made
    with them (``memo`` is None when a stage may depend on more than the request: CEL)."""

    __slots__ = ("_uses_address", "known", "lists", "memo", "stages")

    def __init__(self, lists: AccountRuleLists, stages: tuple[Stage, ...], *, pure: bool) -> None:
        self.lists = lists  # held: its id, the key this pipeline is found by, stays its own
        self.stages = stages
        self.memo: dict[DecisionKey, tuple[Grant, ...]] | None = {} if pure else None
        self._uses_address: bool | None = None
        # An identified caller's decisions (pure pipelines only): see Decider.decide.
        self.known: dict[KnownKey, tuple[tuple[Rule, ...] | None, tuple[Grant, ...]]] = {}

    def remember_known(
        self, key: KnownKey, rules: tuple[Rule, ...] | None, grants: tuple[Grant, ...]
    ) -> None:
        if len(self.known) >= MAX_KNOWN:
            self.known.clear()
        self.known[key] = (rules, grants)

    @property
    def uses_address(self) -> bool:
        """Whether a rule has a network matcher (then the address is part of a decision)."""
        if self._uses_address is None:
            account = self.stages[0]
            assert isinstance(account, AccountRules)
            every = (account.rules, account.user_rules, *(r for _, r in account.group_rules))
            self._uses_address = any(rule.networks for rules in every for rule in rules)
        return self._uses_address

    def remember(self, key: DecisionKey, grants: tuple[Grant, ...]) -> tuple[Grant, ...]:
        assert self.memo is not None
        if len(self.memo) >= MAX_REMEMBERED:
            self.memo.clear()
        self.memo[key] = grants
        return grants


class _Compiled:
    """What one policy fixes: the stages after the account rules (built once), and the
    pipeline per account rule lists (found by the lists' identity: the rule source hands
    back the same object while its cache holds it; bounded)."""

    __slots__ = ("_by_lists", "_pure", "_tail", "anonymous_plan", "policy")

    def __init__(self, policy: TokenPolicy) -> None:
        self.policy = policy
        tail: list[Stage] = [TokenRules()]
        if policy.plans is not None:
            tail.append(policy.plans)
        tail.extend(policy.policies)
        self._tail = tuple(tail)
        self._pure = not policy.policies  # account rules, token rules, plans: no clock
        self._by_lists: dict[int, _Pipeline] = {}
        self.anonymous_plan = plan_of(ANONYMOUS, policy.plan_claim, policy.default_plan)

    def pipeline(self, lists: AccountRuleLists) -> _Pipeline:
        found = self._by_lists.get(id(lists))
        if found is not None and found.lists is lists:
            return found
        user_rules, group_rules = lists
        account = AccountRules(self.policy.config_rules, user_rules, group_rules)
        pipeline = _Pipeline(lists, (account, *self._tail), pure=self._pure)
        if len(self._by_lists) >= MAX_REMEMBERED:
            self._by_lists.clear()
        self._by_lists[id(lists)] = pipeline
        return pipeline

    def plan(self, principal: Principal) -> str:
        if principal is ANONYMOUS:
            return self.anonymous_plan
        policy = self.policy
        return plan_of(principal, policy.plan_claim, policy.default_plan)


class TokenService:
    def __init__(
        self,
        *,
        policy: Callable[[], TokenPolicy],
        identity: IdentityChain,
        decider: Decider,
        signer: Callable[[], TokenSigner],
        refresh: RefreshIssuer,
        audit: AuditSink,
        clock: Clock,
        random: Random,
        throttle: LoginThrottle | None = None,
    ) -> None:
        self._policy = policy
        self._identity = identity
        self._throttle = throttle or NoThrottle()
        self._decider = decider
        self._signer = signer
        self._refresh = refresh
        self._audit = audit
        self._clock = clock
        self._random = random

    async def issue(self, credential: Credential | None, request: TokenRequest) -> IssuedToken:
        """Mint a token or raise a ProblemError; either way an audit event is recorded."""
        policy = self._policy()
        now = self._clock.now()  # the one time of this request: grants, token and audit
        principal: Principal | None = None
        grants: tuple[Grant, ...] = ()
        try:
            _check_service(policy.services, request.service)
            if credential is None:  # anonymous: nothing to throttle
                principal = await self._identity.identify(None, request.facts)
            else:
                principal = await self._identify(credential, request, now)
            grants = await self._decider.decide(principal, request.scopes, request.facts, now=now)
            _check_denied(policy, request, grants)
            token = self._sign(policy, principal, grants, request, now)
            refresh = (
                await self._refresh_token(principal, credential, request)
                if request.offline
                else None
            )
            issued = IssuedToken(
                token, policy.ttl, now.replace(microsecond=0), principal, grants, refresh
            )
        except ProblemError as error:
            self._audit.record(self._event(request, principal, grants, error.code, credential, now))
            raise
        self._audit.record(self._event(request, principal, grants, "", credential, now))
        return issued

    async def identify(self, credential: Credential | None, facts: CallerFacts) -> Principal:
        """Identify a caller of another endpoint (the admin API), throttled like ``/token``."""
        return await self._identify(credential, TokenRequest((), facts))

    async def _identify(
        self, credential: Credential | None, request: TokenRequest, now: datetime | None = None
    ) -> Principal:
        """Identify, counting failures per account and address (429 once over the limit)."""
        if credential is None:
            return await self._identity.identify(None, request.facts)
        username = _username(credential)
        await self._throttle.check(username, request.client_ip, now)
        try:
            principal = await self._identity.identify(credential, request.facts)
        except AuthenticationError:
            await self._throttle.failed(username, request.client_ip)
            raise
        await self._throttle.succeeded(username, request.client_ip, now)
        return principal

    def _sign(
        self,
        policy: TokenPolicy,
        principal: Principal,
        grants: tuple[Grant, ...],
        request: TokenRequest,
        now: datetime,
    ) -> str:
        """A fresh token (its own ``jti`` and times) for the grants."""
        facts = TokenRequestFacts(
            issuer=policy.issuer,
            subject=principal.subject,
            audience=request.service,
            issued_at=int(now.timestamp()),
            ttl=policy.ttl,
            jti=self._random.token_urlsafe(18),
        )
        return self._signer().sign(token_claims(facts, grants))

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
        credential: Credential | None,
        now: datetime,
    ) -> AuditEvent:
        return AuditEvent(
            at=now,
            outcome="denied" if code else "issued",
            service=request.service,
            client_ip=request.client_ip,
            subject=principal.subject if principal else None,
            source=principal.source if principal else None,
            requested=request.scopes,
            grants=grants,
            error_code=code,
            username=_attempted(credential),
        )


def _username(credential: Credential) -> str | None:
    if isinstance(credential, BasicCredential | RefreshCredential):
        return credential.username or None
    return None


def _attempted(credential: Credential | None) -> str | None:
    """The presented username, bounded and printable (never the secret)."""
    name = _username(credential) if credential is not None else None
    if not name:
        return None
    name = name[:MAX_AUDITED_NAME]
    return name if name.isprintable() else "".join(c if c.isprintable() else "?" for c in name)


def _check_service(services: frozenset[str], service: str) -> None:
    if services and service not in services:
        raise UnknownService("the requested service is not served by this token server")


def _check_denied(policy: TokenPolicy, request: TokenRequest, grants: tuple[Grant, ...]) -> None:
    """``token.on_denied = "forbid"``: 403 when scopes were asked for and none was granted."""
    if policy.on_denied == "forbid" and grants and not any(g.actions for g in grants):
        names = ", ".join(str(g.requested) for g in grants[:3])
        raise ScopeDenied(f"none of the requested access was granted ({names})")
