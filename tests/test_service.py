"""Decider: stages built once per policy and rule lists; pure decisions remembered."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime

import pytest

from regauth.domain.grants import TemporaryGrant
from regauth.domain.patterns import Pattern
from regauth.domain.plans import PlanEntry, Plans
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
    """A principal with the anonymous subject but its own token rules is not the anonymous one."""
    policy = TokenPolicy("iss", 300, frozenset(), config_rules=(PUBLIC,))
    decider, _ = _decider(policy, FrozenClock())
    scopes = parse_scopes(["repository:public/base:pull"])
    other = Principal(subject="", source="oidc", token_rules=())
    assert (await decider.decide(other, scopes, _facts(None)))[0].actions == ()
    assert (await decider.decide(ANONYMOUS, scopes, _facts(None)))[0].actions == ("pull",)


MEMBERS = Rule(
    "members", Pattern.compile("team/**"), ("pull", "push"), group=Pattern.compile("dev")
)
OWN = Rule("own", Pattern.compile("${account}/**"), ("pull", "push"), account=Pattern.compile("*"))
PULL_ONLY = (Rule("t1", Pattern.compile("**"), ("pull",)),)


class CountingDecider(Decider):
    """Counts the evaluations (a remembered decision makes none)."""

    evaluations = 0

    @staticmethod
    def _context(*args: object, **kwargs: object) -> RequestContext:
        CountingDecider.evaluations += 1
        return Decider._context(*args, **kwargs)  # type: ignore[arg-type]


def _counting(policy: TokenPolicy, clock: FrozenClock, grants: object = None) -> Decider:
    CountingDecider.evaluations = 0
    return CountingDecider(lambda: policy, FixedRules(), clock, grants)  # type: ignore[arg-type]


async def test_an_identified_callers_decision_is_remembered_and_is_what_evaluate_gives() -> None:
    policy = TokenPolicy("iss", 300, frozenset(), config_rules=(OWN, MEMBERS))
    decider = _counting(policy, FrozenClock())
    alice = Principal("alice", "local", frozenset({"dev"}))
    scopes = parse_scopes(["repository:alice/app:pull,push", "repository:team/x:push"])
    first = await decider.decide(alice, scopes, _facts("192.0.2.1"))
    # Another principal object from a fresh read of the same record decides the same.
    again = await decider.decide(
        Principal("alice", "local", frozenset({"dev"})), scopes, _facts("192.0.2.1")
    )
    ctx = RequestContext(alice, "svc", "192.0.2.1")
    assert first == again == evaluate([AccountRules((OWN, MEMBERS)), TokenRules()], scopes, ctx)
    assert [g.actions for g in first] == [("pull", "push"), ("push",)]
    assert CountingDecider.evaluations == 1


async def test_what_the_stages_read_of_a_principal_keys_its_remembered_decision() -> None:
    plans = Plans({"free": (PlanEntry(Pattern.compile("*/*"), ("pull",)),)})
    policy = TokenPolicy(
        "iss",
        300,
        frozenset(),
        config_rules=(OWN, MEMBERS),
        plans=plans,
        plan_claim="plan",
        default_plan="gold",
    )
    decider = _counting(policy, FrozenClock())
    scopes = parse_scopes(["repository:team/x:pull,push"])
    dev = Principal("bob", "local", frozenset({"dev"}), {"plan": "free"})
    cases = [
        (dev, ("pull",)),
        (Principal("bob", "local", frozenset(), {"plan": "free"}), ()),  # other groups
        (Principal("bob", "local", frozenset({"dev"}), {}), ()),  # no such plan as gold
        (Principal("bob", "pat", frozenset({"dev"}), {"plan": "free"}, "t", ()), ()),
    ]
    for _ in range(2):
        for principal, actions in cases:
            decided = await decider.decide(principal, scopes, _facts(None))
            assert decided[0].actions == actions, principal
    assert CountingDecider.evaluations == len(cases)


async def test_token_rules_equal_in_value_are_still_told_apart_by_identity() -> None:
    policy = TokenPolicy("iss", 300, frozenset(), config_rules=(OWN,))
    decider = _counting(policy, FrozenClock())
    scopes = parse_scopes(["repository:carol/app:pull,push"])
    first = Principal("carol", "pat", token_id="t", token_rules=PULL_ONLY)
    second = Principal("carol", "pat", token_id="t", token_rules=tuple(PULL_ONLY))
    copy = (Rule("t1", Pattern.compile("**"), ("pull",)),)  # equal, another object
    third = Principal("carol", "pat", token_id="t", token_rules=copy)
    for principal in (first, second, third, first):
        assert (await decider.decide(principal, scopes, _facts(None)))[0].actions == ("pull",)
    assert CountingDecider.evaluations == 2  # the copy is evaluated: its id is another


async def test_an_identified_callers_decision_follows_service_and_address() -> None:
    office = Rule(
        "office",
        Pattern.compile("internal/**"),
        ("pull",),
        account=Pattern.compile("*"),
        networks=(ipaddress.ip_network("10.0.0.0/8"),),
        services=("svc",),
    )
    decider = _counting(TokenPolicy("iss", 300, frozenset(), config_rules=(office,)), FrozenClock())
    scopes = parse_scopes(["repository:internal/app:pull"])
    dave = Principal("dave", "local")
    for _ in range(2):
        inside = await decider.decide(dave, scopes, _facts("10.1.2.3"))
        outside = await decider.decide(dave, scopes, _facts("192.0.2.1"))
        elsewhere = await decider.decide(dave, scopes, CallerFacts("10.1.2.3", "other"))
        assert inside[0].actions == ("pull",)
        assert outside[0].actions == () and elsewhere[0].actions == ()


class OneGrant:
    """Live temporary grants as the grant source hands them out (checked against ``now``)."""

    def __init__(self, grant: TemporaryGrant) -> None:
        self.grant = grant

    async def active(self, subject: str, now: datetime) -> tuple[TemporaryGrant, ...]:
        at = int(now.timestamp())
        return (self.grant,) if subject == "erin" and at < self.grant.expires_at else ()


async def test_a_temporary_grant_is_decided_afresh_and_ends_with_the_request_time() -> None:
    clock = FrozenClock()
    ends = int(clock.at.timestamp()) + 60
    grant = TemporaryGrant(7, "locked/app", ("push",), "approver", ends, "then")
    policy = TokenPolicy("iss", 300, frozenset(), config_rules=(OWN,))
    decider = _counting(policy, clock, OneGrant(grant))
    scopes = parse_scopes(["repository:locked/app:push"])
    erin = Principal("erin", "local")
    assert (await decider.decide(erin, scopes, _facts(None)))[0].actions == ("push",)
    assert (await decider.decide(erin, scopes, _facts(None)))[0].actions == ("push",)
    clock.advance(seconds=61)
    assert (await decider.decide(erin, scopes, _facts(None)))[0].actions == ()
    assert CountingDecider.evaluations == 3  # with a grant: each time; then remembered
    assert (await decider.decide(erin, scopes, _facts(None)))[0].actions == ()
    assert CountingDecider.evaluations == 3


async def test_a_stage_that_reads_the_clock_decides_an_identified_caller_every_time() -> None:
    clock = FrozenClock()
    rule = Rule("all", Pattern.compile("**"), ("pull",), account=Pattern.compile("*"))
    policy = TokenPolicy("iss", 300, frozenset(), config_rules=(rule,), policies=(Daytime(),))
    decider = _counting(policy, clock)
    scopes = parse_scopes(["repository:public/base:pull"])
    frank = Principal("frank", "local")
    assert (await decider.decide(frank, scopes, _facts(None)))[0].actions == ("pull",)
    clock.advance(hours=2)
    assert (await decider.decide(frank, scopes, _facts(None)))[0].actions == ()
