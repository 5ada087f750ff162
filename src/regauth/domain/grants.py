"""Temporary grants: access approved by an external service for a time window (pure).

A grant names one repository, the actions approved, who approved it and
until when (unix seconds). The stage runs right after the account rules and
*adds back* the requested actions a live grant covers, recording
``temporary grant #N, approved by <service> until <time>`` in the trace;
later stages (token rules, plans, policies, webhooks) still narrow. An
explicit deny from the account rules is not overridden.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from regauth.domain.policy import EXPLICIT_DENY, Grant
from regauth.domain.rules import RequestContext


@dataclass(frozen=True, slots=True)
class TemporaryGrant:
    id: int
    repository: str
    actions: tuple[str, ...]
    approved_by: str
    expires_at: int  # unix seconds
    until: str  # expires_at as text for the trace (formatted by the caller)

    def covers(self, name: str, at: int) -> bool:
        return self.repository == name and at < self.expires_at

    @property
    def label(self) -> str:
        return f"temporary grant #{self.id}, approved by {self.approved_by} until {self.until}"


@dataclass(frozen=True, slots=True)
class TemporaryGrants:
    """The stage: the principal's live grants (already selected for its subject)."""

    grants: tuple[TemporaryGrant, ...]
    name: str = "temporary"
    widens: ClassVar[bool] = True

    def apply(self, grant: Grant, ctx: RequestContext) -> Grant:
        resource = grant.requested.resource
        if resource.type != "repository" or _explicitly_denied(grant):
            return grant
        for item in self.grants:
            if not item.covers(resource.name, ctx.at):
                continue
            extra = [a for a in grant.requested.actions if a in item.actions]
            if any(a not in grant.actions for a in extra):
                return grant.widen(self.name, extra, item.label)
        return grant


def _explicitly_denied(grant: Grant) -> bool:
    return any(d.stage == "account" and d.reason.endswith(EXPLICIT_DENY) for d in grant.trace)
