"""The authorization pipeline: account union, explicit deny, token rules, plans, licences."""

from __future__ import annotations

import pytest

from regauth.domain.patterns import Pattern
from regauth.domain.plans import PlanEntry, Plans, license_revoked, plan_of
from regauth.domain.policy import AccountRules, TokenRules, evaluate
from regauth.domain.principal import Principal
from regauth.domain.rules import RequestContext, Rule
from regauth.domain.scope import parse_scope


def r(rule_id: str, name: str, *actions: str, account: str | None = None) -> Rule:
    acc = Pattern.compile(account) if account else None
    return Rule(rule_id, Pattern.compile(name), actions, account=acc)


# Seed 001's worked example, verbatim: user rules public/** pull, username/** push+pull;
# group rules team-a/** push+pull; token rule ** pull → pull only on all three.
USER = (r("u1", "public/**", "pull"), r("u2", "alice/**", "push", "pull"))
GROUP = (("team-a", (r("g1", "team-a/**", "push", "pull"),)),)
TOKEN = (r("t1", "**", "pull"),)


def account(principal: Principal, scope: str, *, config: tuple[Rule, ...] = ()) -> tuple[str, ...]:
    stage = AccountRules(config, USER, GROUP)
    ctx = RequestContext(principal, "svc")
    (grant,) = evaluate((stage, TokenRules()), [parse_scope(scope)], ctx)
    return grant.actions


ALICE = Principal("alice", "local", frozenset({"team-a"}))
ALICE_PAT = Principal("alice", "pat", frozenset({"team-a"}), token_id="tok1", token_rules=TOKEN)


@pytest.mark.parametrize(
    ("principal", "scope", "expected"),
    [
        (ALICE, "repository:public/x:pull,push", ("pull",)),
        (ALICE, "repository:alice/x:pull,push", ("pull", "push")),
        (ALICE, "repository:team-a/x:pull,push", ("pull", "push")),
        (ALICE, "repository:other/x:pull", ()),
        (ALICE_PAT, "repository:public/x:pull,push", ("pull",)),
        (ALICE_PAT, "repository:alice/x:pull,push", ("pull",)),
        (ALICE_PAT, "repository:team-a/x:pull,push", ("pull",)),
        (ALICE_PAT, "repository:other/x:pull", ()),
    ],
)
def test_seed_001_worked_example(
    principal: Principal, scope: str, expected: tuple[str, ...]
) -> None:
    assert account(principal, scope) == expected


def test_union_of_user_group_and_global_matches() -> None:
    config = (r("c1", "team-a/**", "delete"),)
    assert account(ALICE, "repository:team-a/x:pull,push,delete", config=config) == (
        "pull",
        "push",
        "delete",
    )


def test_user_rule_with_no_actions_is_an_explicit_deny_over_groups() -> None:
    user = (r("u0", "team-a/secret/**"),)
    stage = AccountRules((), user, GROUP)
    (grant,) = evaluate(
        (stage,), [parse_scope("repository:team-a/secret/x:pull")], RequestContext(ALICE, "s")
    )
    assert grant.actions == ()
    assert "explicit deny" in grant.trace[-1].reason


def test_global_rule_naming_the_account_with_no_actions_denies_over_groups() -> None:
    config = (r("c1", "team-a/**", account="alice"),)
    assert account(ALICE, "repository:team-a/x:pull", config=config) == ()


def test_group_rule_with_no_actions_does_not_override_other_grants() -> None:
    group = (("team-a", (r("g0", "alice/**"),)),)
    stage = AccountRules((), USER, group)
    (grant,) = evaluate(
        (stage,), [parse_scope("repository:alice/x:pull")], RequestContext(ALICE, "s")
    )
    assert grant.actions == ("pull",)


def test_token_rules_without_match_remove_everything() -> None:
    pat = Principal("alice", "pat", token_id="t", token_rules=(r("t1", "public/**", "pull"),))
    assert account(pat, "repository:alice/x:pull") == ()


PLANS = Plans(
    {
        "free": (PlanEntry(Pattern.compile("public/*"), ("pull",)),),
        "pro": (
            PlanEntry(Pattern.compile("public/*"), ("pull",)),
            PlanEntry(Pattern.compile("acme/*/images"), ("pull", "push")),
        ),
    }
)


@pytest.mark.parametrize(
    ("plan", "scope", "expected"),
    [
        ("free", "repository:public/base:pull,push", ("pull",)),
        ("free", "repository:public/a/b:pull", ()),  # * is one path segment
        ("pro", "repository:acme/team/images:pull,push", ("pull", "push")),
        ("pro", "repository:acme/team/other:pull", ()),
        ("missing", "repository:public/base:pull", ()),
        ("", "repository:public/base:pull", ()),
        ("free", "registry:catalog:*", ("*",)),  # plans cover repositories only
    ],
)
def test_plans(plan: str, scope: str, expected: tuple[str, ...]) -> None:
    ctx = RequestContext(Principal("u", "oidc"), "s", plan=plan)
    (grant,) = evaluate((PLANS,), [parse_scope(scope)], ctx)
    assert grant.actions == expected


def test_plan_and_license_claims() -> None:
    p = Principal("u", "oidc", claims={"stellaops:plan": "pro", "lic": {"id": "L-1"}})
    assert plan_of(p, "stellaops:plan", "free") == "pro"
    assert plan_of(Principal("u", "oidc"), "stellaops:plan", "free") == "free"
    assert plan_of(p, "", "free") == "free"
    assert license_revoked(p, "lic.id", frozenset({"L-1"}))
    assert not license_revoked(p, "lic.id", frozenset({"L-2"}))
    assert not license_revoked(Principal("u", "oidc"), "lic.id", frozenset({"L-1"}))
