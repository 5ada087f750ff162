"""Plans (entitlements) and revoked licences — stages 3 and 4 of SPEC §4 (seed 004).

A plan maps repository patterns (``*`` = one path segment) to actions
(default ``pull``). The principal's plan comes from a claim, else the
default plan; actions outside the plan are removed. A principal whose
licence claim is revoked gets nothing at all (the service answers 403).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from regauth.domain.patterns import Pattern
from regauth.domain.policy import Grant
from regauth.domain.principal import Principal
from regauth.domain.rules import RequestContext


@dataclass(frozen=True, slots=True)
class PlanEntry:
    pattern: Pattern
    actions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Plans:
    """Stage 3: repository actions outside the principal's plan are removed."""

    plans: Mapping[str, tuple[PlanEntry, ...]]
    name: str = "plan"

    def apply(self, grant: Grant, ctx: RequestContext) -> Grant:
        if grant.requested.resource.type != "repository":
            return grant
        entries = self.plans.get(ctx.plan)
        if entries is None:
            reason = f"plan {ctx.plan!r} is not defined" if ctx.plan else "no plan"
            return grant.narrow(self.name, (), reason)
        allowed: list[str] = []
        for entry in entries:
            if entry.pattern.matches(grant.requested.resource.name):
                allowed.extend(a for a in entry.actions if a not in allowed)
        if "*" in allowed:
            allowed = list(grant.actions)
        if not allowed:
            return grant.narrow(self.name, (), f"plan {ctx.plan!r} does not cover this repository")
        return grant.narrow(self.name, allowed, f"plan {ctx.plan!r}")


def claim_text(principal: Principal, claim: str) -> str:
    """A claim's value as text ("" when absent or not a scalar); dotted paths walk maps."""
    value: object = principal.claims
    for part in claim.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return ""
        value = value[part]
    return str(value) if isinstance(value, str | int) else ""


def plan_of(principal: Principal, claim: str, default: str) -> str:
    return claim_text(principal, claim) or default if claim else default


def license_revoked(principal: Principal, claim: str, revoked: frozenset[str]) -> bool:
    return bool(claim and revoked) and claim_text(principal, claim) in revoked
