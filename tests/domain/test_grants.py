"""The temporary-grant stage: adds back what an approved request covers, until it expires."""

from __future__ import annotations

from regauth.domain.grants import TemporaryGrant, TemporaryGrants
from regauth.domain.patterns import Pattern
from regauth.domain.policy import AccountRules, TokenRules, evaluate
from regauth.domain.principal import Principal
from regauth.domain.rules import RequestContext, Rule
from regauth.domain.scope import parse_scope

ALICE = Principal("alice", "local")
PULL_TEAM = Rule("global#1", Pattern.compile("team/**"), ("pull",))
DENY_VAULT = Rule("global#2", Pattern.compile("vault/**"), (), account=Pattern.compile("alice"))
GRANT = TemporaryGrant(7, "team/secret", ("push",), "approvals", 2000, "2026-11-23T12:33:20+00:00")


def decide(
    scope: str, at: int, *, grants: tuple[TemporaryGrant, ...] = (GRANT,)
) -> tuple[str, ...]:
    stages = (AccountRules((PULL_TEAM, DENY_VAULT)), TemporaryGrants(grants), TokenRules())
    (grant,) = evaluate(stages, (parse_scope(scope),), RequestContext(ALICE, "svc", at=at))
    return grant.actions


def test_an_approved_grant_adds_push_within_its_window() -> None:
    assert decide("repository:team/secret:pull,push", 1000) == ("pull", "push")


def test_the_trace_names_the_grant_the_approver_and_the_end() -> None:
    stages = (AccountRules((PULL_TEAM,)), TemporaryGrants((GRANT,)))
    (grant,) = evaluate(
        stages, (parse_scope("repository:team/secret:push"),), RequestContext(ALICE, "s", at=1)
    )
    assert grant.trace[-1].stage == "temporary"
    assert grant.trace[-1].reason == (
        "temporary grant #7, approved by approvals until 2026-11-23T12:33:20+00:00"
    )


def test_even_when_the_account_rules_left_nothing() -> None:
    grants = (TemporaryGrant(8, "other/repo", ("push",), "a", 2000, "t"),)
    assert decide("repository:other/repo:push", 1000, grants=grants) == ("push",)


def test_after_expiry_nothing_is_added() -> None:
    assert decide("repository:team/secret:pull,push", 2000) == ("pull",)


def test_only_the_named_repository_and_actions() -> None:
    assert decide("repository:team/other:push", 1000) == ()
    assert decide("repository:team/secret:delete", 1000) == ()


def test_an_explicit_deny_is_not_overridden() -> None:
    grants = (TemporaryGrant(9, "vault/keys", ("pull",), "a", 2000, "t"),)
    assert decide("repository:vault/keys:pull", 1000, grants=grants) == ()


def test_token_rules_still_narrow_afterwards() -> None:
    pat = Principal("alice", "pat", token_id="t1", token_rules=(PULL_TEAM,))
    stages = (AccountRules((PULL_TEAM,)), TemporaryGrants((GRANT,)), TokenRules())
    ctx = RequestContext(pat, "svc", at=1000)
    (grant,) = evaluate(stages, (parse_scope("repository:team/secret:pull,push"),), ctx)
    assert grant.actions == ("pull",)
