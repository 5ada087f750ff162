"""The authorization pipeline and its decision trace (SPEC §4).

Each requested resource starts with the actions asked for; every stage may
only narrow them and records what it decided. Stages here are pure; stages
that need I/O (webhooks) live in ``regauth.authz`` and produce the same
:class:`StageDecision` values.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from regauth.domain.rules import RequestContext, Rule, first_match
from regauth.domain.scope import ResourceActions

NO_MATCH = "no matching rule"


@dataclass(frozen=True, slots=True)
class StageDecision:
    """What one stage decided for one resource: the actions left, and why."""

    stage: str
    actions: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class Grant:
    """The outcome for one requested resource, with the trace that led to it."""

    requested: ResourceActions
    actions: tuple[str, ...]
    trace: tuple[StageDecision, ...] = ()

    @classmethod
    def start(cls, requested: ResourceActions) -> Grant:
        return cls(requested, requested.actions)

    def narrow(self, stage: str, allowed: Iterable[str], reason: str) -> Grant:
        """Keep only the current actions that ``allowed`` contains; record the step."""
        keep = set(allowed)
        actions = tuple(a for a in self.actions if a in keep)
        return Grant(self.requested, actions, (*self.trace, StageDecision(stage, actions, reason)))

    @property
    def denied(self) -> tuple[str, ...]:
        return tuple(a for a in self.requested.actions if a not in self.actions)


class Stage(Protocol):
    """A pure stage: narrows one grant for one caller."""

    @property
    def name(self) -> str: ...

    def apply(self, grant: Grant, ctx: RequestContext) -> Grant: ...


@dataclass(frozen=True, slots=True)
class AccountRules:
    """Stage 1: ordered rules, first match wins, requested ∩ allowed."""

    rules: tuple[Rule, ...]
    name: str = "account"

    def apply(self, grant: Grant, ctx: RequestContext) -> Grant:
        rule = first_match(self.rules, grant.requested, ctx)
        if rule is None:
            return grant.narrow(self.name, (), NO_MATCH)
        return grant.narrow(self.name, rule.allow(grant.actions), rule.label)


def evaluate(
    stages: Sequence[Stage], items: Iterable[ResourceActions], ctx: RequestContext
) -> tuple[Grant, ...]:
    """Run every stage over every requested resource; a stage is skipped once nothing is left."""
    grants = []
    for item in items:
        grant = Grant.start(item)
        for stage in stages:
            if not grant.actions:
                break
            grant = stage.apply(grant, ctx)
        grants.append(grant)
    return tuple(grants)
