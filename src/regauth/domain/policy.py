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
EXPLICIT_DENY = "explicit deny"


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
        if allowed is self.actions or allowed == self.actions:  # all of them (the usual case)
            actions = self.actions
        else:
            keep = set(allowed)
            actions = tuple(a for a in self.actions if a in keep)
        return Grant(self.requested, actions, (*self.trace, StageDecision(stage, actions, reason)))

    def widen(self, stage: str, extra: Iterable[str], reason: str) -> Grant:
        """Add back requested actions in ``extra`` (a temporary grant); record the step."""
        add = set(extra)
        actions = tuple(a for a in self.requested.actions if a in self.actions or a in add)
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
    """Stage 1 (SPEC §4.1, seed 001): the account's actions.

    Three kinds of ordered lists, first match wins within each: the user's own
    rules, each of its groups' rules, and the global rules of the config file.
    Account actions = the union of the matches; but a matching *user-level*
    rule with no actions (a user rule, or a global rule naming the account) is
    an explicit deny that overrides everything else.
    """

    rules: tuple[Rule, ...]
    user_rules: tuple[Rule, ...] = ()
    group_rules: tuple[tuple[str, tuple[Rule, ...]], ...] = ()
    name: str = "account"

    def apply(self, grant: Grant, ctx: RequestContext) -> Grant:
        item = grant.requested
        own = first_match(self.user_rules, item, ctx) if self.user_rules else None
        matches = [] if own is None else [own]
        for _, rules in self.group_rules:
            if rules and (rule := first_match(rules, item, ctx)) is not None:
                matches.append(rule)
        if self.rules and (rule := first_match(self.rules, item, ctx)) is not None:
            matches.append(rule)
        if not matches:
            return grant.narrow(self.name, (), NO_MATCH)
        for rule in matches:
            if not rule.actions and (rule is own or rule.account is not None):
                return grant.narrow(self.name, (), f"{rule.label}: {EXPLICIT_DENY}")
        if len(matches) == 1:  # the usual case: that rule's actions, its label
            return grant.narrow(self.name, matches[0].allow(grant.actions), matches[0].label)
        allowed: list[str] = []
        for rule in matches:
            allowed.extend(a for a in rule.allow(grant.actions) if a not in allowed)
        return grant.narrow(self.name, allowed, " + ".join(r.label for r in matches))


@dataclass(frozen=True, slots=True)
class TokenRules:
    """Stage 2: a personal access token, robot token or API key narrows further (∩)."""

    name: str = "token"

    def apply(self, grant: Grant, ctx: RequestContext) -> Grant:
        rules = ctx.principal.token_rules
        if rules is None:
            return grant
        rule = first_match(rules, grant.requested, ctx)
        if rule is None:
            return grant.narrow(self.name, (), f"token {ctx.principal.token_id}: {NO_MATCH}")
        label = f"token {ctx.principal.token_id}: {rule.label}"
        return grant.narrow(self.name, rule.allow(grant.actions), label)


def evaluate(
    stages: Sequence[Stage], items: Iterable[ResourceActions], ctx: RequestContext
) -> tuple[Grant, ...]:
    """Run every stage over every requested resource.

    Once nothing is left, narrowing stages are skipped; a stage that may add
    actions back (``widens = True``, the temporary grants) still runs.
    """
    grants = []
    for item in items:
        grant = Grant.start(item)
        for stage in stages:
            if not grant.actions and not getattr(stage, "widens", False):
                continue
            grant = stage.apply(grant, ctx)
        grants.append(grant)
    return tuple(grants)
