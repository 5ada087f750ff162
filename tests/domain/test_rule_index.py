"""The rule index answers exactly as a linear scan, and looks only at rules that can match."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from regauth.domain.patterns import Pattern
from regauth.domain.principal import ANONYMOUS, Principal
from regauth.domain.rules import RequestContext, Rule, RuleIndex, first_match
from regauth.domain.scope import Resource, ResourceActions

SEGMENTS = ("a", "b", "alice", "dev", "", "a.b")
PATTERN_SEGMENTS = (*SEGMENTS, "*", "**", "?", "a*", "*b", "${account}", "${group}", "x${service}")
PRINCIPALS = (
    ANONYMOUS,
    Principal("alice", "local"),
    Principal("bob", "local", frozenset({"dev", "ops"})),
)
TYPES = ("repository", "registry")


@st.composite
def rules(draw: st.DrawFn) -> Rule:
    name = "/".join(draw(st.lists(st.sampled_from(PATTERN_SEGMENTS), min_size=1, max_size=4)))
    name = name or "**"  # an empty pattern is refused at load
    account = draw(st.sampled_from((None, "alice", "*", "b*")))
    return Rule(
        rule_id=f"r{draw(st.integers(0, 10**6))}",
        name=Pattern.compile(name),
        actions=draw(st.sampled_from(((), ("pull",), ("*",)))),
        type=draw(st.sampled_from(TYPES)),
        account=Pattern.compile(account) if account is not None else None,
        group=draw(st.sampled_from((None, Pattern.compile("dev"), Pattern.compile("o*")))),
        anonymous=draw(st.sampled_from((None, True, False))),
        services=draw(st.sampled_from(((), ("svc",), ("other",)))),
    )


names = st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=5).map("/".join)


def linear(rules: tuple[Rule, ...], item: ResourceActions, ctx: RequestContext) -> Rule | None:
    return next((r for r in rules if r.matches(item, ctx)), None)


# generation compiles patterns (real rules): slow on a busy machine, not a problem
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(rules(), max_size=30),
    st.lists(st.tuples(st.sampled_from(TYPES), names), min_size=1, max_size=6),
    st.sampled_from(PRINCIPALS),
    st.sampled_from(("svc", "other")),
)
def test_indexed_first_match_equals_linear_scan(
    rule_list: list[Rule],
    requests: list[tuple[str, str]],
    principal: Principal,
    service: str,
) -> None:
    plain = tuple(rule_list)
    index = RuleIndex(plain, linear_up_to=0)  # always through the tree
    ctx = RequestContext(principal, service, "192.0.2.1")
    for kind, name in requests:
        item = ResourceActions(Resource(kind, name), ("pull",))
        assert index.first_match(item, ctx) is linear(plain, item, ctx)
        assert first_match(index, item, ctx) is linear(plain, item, ctx)


@pytest.mark.parametrize(
    ("pattern", "prefix"),
    [
        ("team/app/**", ("team", "app")),
        ("team/app-*/x", ("team",)),
        ("team/app", ("team", "app")),
        ("team/", ("team", "")),
        ("*/app", ()),
        ("**", ()),
        ("${account}/**", ()),
        ("team-${group}/x", ()),
        ("te?m/x", ()),
        ("a{b}/c", ("a{b}", "c")),
    ],
)
def test_literal_prefix(pattern: str, prefix: tuple[str, ...]) -> None:
    assert Pattern.compile(pattern).literal_prefix == prefix


def test_a_lookup_tries_only_rules_that_can_match() -> None:
    many = [Rule(f"org{i}", Pattern.compile(f"org-{i}/**"), ("pull",)) for i in range(10_000)]
    wild = Rule("own", Pattern.compile("${account}/**"), ("pull", "push"))
    deep = Rule("deep", Pattern.compile("org-7/app/**"), ())
    index = RuleIndex([*many[:5000], wild, deep, *many[5000:]])
    item = ResourceActions(Resource("repository", "org-7/app/x"), ("pull",))
    assert [r.rule_id for r in index.candidates(item)] == ["org7", "own", "deep"]
    ctx = RequestContext(Principal("alice", "local"), "svc")
    assert index.first_match(item, ctx) is many[7]
    mine = ResourceActions(Resource("repository", "alice/app"), ("pull",))
    assert [r.rule_id for r in index.candidates(mine)] == ["own"]
    catalog = ResourceActions(Resource("registry", "catalog"), ("*",))
    assert list(index.candidates(catalog)) == []


def test_the_index_is_the_rule_tuple() -> None:
    rules = tuple(Rule(f"r{i}", Pattern.compile(f"p{i}/*"), ("pull",)) for i in range(20))
    index = RuleIndex(rules)
    assert index == rules and isinstance(index, tuple) and list(index) == list(rules)
    assert (
        RuleIndex(rules[:3]).first_match(
            ResourceActions(Resource("repository", "p1/x"), ("pull",)),
            RequestContext(ANONYMOUS, "svc"),
        )
        is rules[1]
    )
