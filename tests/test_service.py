"""Decider: stages built once per policy and rule lists; anonymous decisions remembered."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pytest

from regauth.domain.patterns import Pattern
from regauth.domain.policy import AccountRules, Grant, TokenRules, evaluate
from regauth.domain.principal import ANONYMOUS, Principal
from regauth.domain.rules import RequestContext, Rule
from regauth.domain.scope import parse_scopes
from regauth.ports import CallerFacts
from regauth.service import Decider, GroupRules, TokenPolicy
from tests.conftest import FrozenClock

PUBLIC = Rule("public", Pattern.compile("public/**"), ("pull",), anonymous=True)
OFFICE = Rule(
    "office",
    Pattern.compile("internal/**"),
    ("pull",),
    anonymous=True,
    networks=(ipaddress.ip_network("10.0.0.0/8"),),
)
pytestmark = pytest.mark.anyio
NO_LISTS: tuple[tuple[Rule, ...], GroupRules] = ((), ())


class FixedRules:
    """The same lists object every time (as a cached rule source answers)."""

    def __init__(self) -> None:
        self.calls = 0

    async def rules_for(self, principal: Principal) -> tuple[tuple[Rule, ...], GroupRules]:
        self.calls += 1
        return NO_LISTS


@dataclass(frozen=True, slots=True)
class Daytime:
    """A pure stage that looks at the clock (as a CEL policy may): pull only before noon+1h."""

    name: str = "daytime"

    def apply(self, grant: Grant, ctx: RequestContext) -> Grant:
        limit = int(FrozenClock().at.timestamp()) + 3600
        return grant if ctx.at < limit else grant.narrow(self.name, (), "after hours")


def _decider(policy: TokenPolicy, clock: FrozenClock) -> tuple[Decider, list[TokenPolicy]]:
    current = [policy]
    return Decider(lambda: current[0], FixedRules(), clock), current


def _facts(ip: str | None) -> CallerFacts:
    return CallerFacts(client_ip=ip, service="svc")


async def test_anonymous_decisions_follow_the_address_when_a_rule_looks_at_it() -> None:
    policy = TokenPolicy("iss", 300, frozenset(), config_rules=(PUBLIC, OFFICE))
    decider, _ = _decider(policy, FrozenClock())
    scopes = parse_scopes(["repository:internal/app:pull"])
    for _ in range(2):  # the second round answers from what was remembered
        inside = await decider.decide(ANONYMOUS, scopes, _facts("10.1.2.3"))
        outside = await decider.decide(ANONYMOUS, scopes, _facts("192.0.2.1"))
        nowhere = await decider.decide(ANONYMOUS, scopes, _facts(None))
        assert inside[0].actions == ("pull",)
        assert outside[0].actions == () and nowhere[0].actions == ()


async def test_a_remembered_decision_is_what_evaluate_gives() -> None:
    policy = TokenPolicy("iss", 300, frozenset(), config_rules=(PUBLIC,))
    decider, _ = _decider(policy, FrozenClock())
    scopes = parse_scopes(["repository:public/base:pull,push", "repository:other/x:pull"])
    first = await decider.decide(ANONYMOUS, scopes, _facts("192.0.2.1"))
    again = await decider.decide(ANONYMOUS, scopes, _facts("192.0.2.1"))
    ctx = RequestContext(ANONYMOUS, "svc", "192.0.2.1")
    assert first == again == evaluate([AccountRules((PUBLIC,)), TokenRules()], scopes, ctx)
    assert [g.actions for g in first] == [("pull",), ()]


async def test_a_stage_that_reads_the_clock_is_asked_every_time() -> None:
    clock = FrozenClock()
    policy = TokenPolicy("iss", 300, frozenset(), config_rules=(PUBLIC,), policies=(Daytime(),))
    decider, _ = _decider(policy, clock)
    scopes = parse_scopes(["repository:public/base:pull"])
    assert (await decider.decide(ANONYMOUS, scopes, _facts(None)))[0].actions == ("pull",)
    clock.advance(hours=2)
    assert (await decider.decide(ANONYMOUS, scopes, _facts(None)))[0].actions == ()
    # The request's own time, when given, is the one the stage sees.
    early = FrozenClock().at
    decided = await decider.decide(ANONYMOUS, scopes, _facts(None), now=early)
    assert decided[0].actions == ("pull",)


async def test_a_new_policy_is_decided_with_its_own_rules() -> None:
    decider, current = _decider(
        TokenPolicy("iss", 300, frozenset(), config_rules=(PUBLIC,)), FrozenClock()
    )
    scopes = parse_scopes(["repository:public/base:pull"])
    assert (await decider.decide(ANONYMOUS, scopes, _facts(None)))[0].actions == ("pull",)
    current[0] = TokenPolicy("iss", 300, frozenset())  # reloaded: no rule any more
    assert (await decider.decide(ANONYMOUS, scopes, _facts(None)))[0].actions == ()


async def test_an_anonymous_looking_principal_is_decided_afresh() -> None:
    """Only the anonymous principal itself is remembered; any other is evaluated each time."""
    policy = TokenPolicy("iss", 300, frozenset(), config_rules=(PUBLIC,))
    decider, _ = _decider(policy, FrozenClock())
    scopes = parse_scopes(["repository:public/base:pull"])
    other = Principal(subject="", source="oidc", token_rules=())
    assert (await decider.decide(other, scopes, _facts(None)))[0].actions == ()
    assert (await decider.decide(ANONYMOUS, scopes, _facts(None)))[0].actions == ("pull",)
