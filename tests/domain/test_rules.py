"""Account rules, as a readable table (the style of docker_auth's acl_test.go)."""

from __future__ import annotations

import ipaddress

import pytest

from regauth.domain.patterns import Pattern
from regauth.domain.policy import NO_MATCH, AccountRules, Grant, evaluate
from regauth.domain.principal import ANONYMOUS, Principal
from regauth.domain.rules import RequestContext, Rule
from regauth.domain.scope import parse_scope


def rule(n: int, name: str, actions: tuple[str, ...], **who: object) -> Rule:
    kwargs: dict[str, object] = {}
    for key in ("account", "group"):
        if key in who:
            kwargs[key] = Pattern.compile(str(who[key]))
    if "anonymous" in who:
        kwargs["anonymous"] = who["anonymous"]
    if "type" in who:
        kwargs["type"] = who["type"]
    if "services" in who:
        kwargs["services"] = who["services"]
    if "networks" in who:
        kwargs["networks"] = tuple(ipaddress.ip_network(str(n)) for n in who["networks"])  # type: ignore[attr-defined]
    return Rule(f"r{n}", Pattern.compile(name), actions, **kwargs)  # type: ignore[arg-type]


RULES = (
    rule(1, "**", ("*",), account="admin"),
    rule(2, "catalog", ("*",), account="admin", type="registry"),
    rule(3, "secret/**", (), account="alice"),
    rule(4, "${account}/**", ("pull", "push", "delete")),
    rule(5, "team/**", ("pull", "push"), group="dev"),
    rule(6, "public/**", ("pull",), anonymous=True),
    rule(7, "**", ("pull",), account="*"),
    rule(8, "internal/**", ("pull",), anonymous=True, networks=("10.0.0.0/8",)),
    rule(9, "svc/**", ("pull",), anonymous=True, services=("other",)),
)
ALICE = Principal("alice", "local")
BOB_DEV = Principal("bob", "local", frozenset({"dev"}))
ADMIN = Principal("admin", "local")


@pytest.mark.parametrize(
    ("principal", "scope", "granted", "reason"),
    [
        (ADMIN, "repository:any/thing:pull,push,delete", ("pull", "push", "delete"), "r1"),
        (ADMIN, "repository:any/thing:*", ("*",), "r1"),
        (ADMIN, "registry:catalog:*", ("*",), "r2"),
        (ALICE, "registry:catalog:*", (), NO_MATCH),
        (ALICE, "repository:secret/x:pull", (), "r3"),  # explicit deny, first match wins
        (ALICE, "repository:alice/app:pull,push", ("pull", "push"), "r4"),
        (ALICE, "repository:alice/app:*", (), "r4"),  # "*" is granted only by a "*" rule
        (ALICE, "repository:bob/app:push", (), "r7"),
        (ALICE, "repository:bob/app:pull,push", ("pull",), "r7"),
        (BOB_DEV, "repository:team/x:pull,push", ("pull", "push"), "r5"),
        (ALICE, "repository:team/x:push", (), "r7"),
        (ANONYMOUS, "repository:public/x:pull,push", ("pull",), "r6"),
        (ANONYMOUS, "repository:alice/x:pull", (), NO_MATCH),
        (ANONYMOUS, "repository:internal/x:pull", (), NO_MATCH),  # wrong network
    ],
)
def test_first_match_table(
    principal: Principal, scope: str, granted: tuple[str, ...], reason: str
) -> None:
    ctx = RequestContext(principal, "registry.local", "192.0.2.1")
    (grant,) = evaluate((AccountRules(RULES),), [parse_scope(scope)], ctx)
    assert grant.actions == granted
    assert grant.trace[-1].reason.startswith(reason)


def test_network_and_service_matchers() -> None:
    inside = RequestContext(ANONYMOUS, "other", "10.1.2.3")
    (g1, g2) = evaluate(
        (AccountRules(RULES),),
        [parse_scope("repository:internal/x:pull"), parse_scope("repository:svc/x:pull")],
        inside,
    )
    assert g1.actions == ("pull",)
    assert g2.actions == ("pull",)


def test_stages_are_skipped_once_nothing_is_left() -> None:
    calls: list[str] = []

    class Spy:
        name = "spy"

        def apply(self, grant: Grant, ctx: RequestContext) -> Grant:
            calls.append(str(grant.requested))
            return grant

    ctx = RequestContext(ANONYMOUS, "s")
    evaluate((AccountRules(RULES), Spy()), [parse_scope("repository:nope/x:pull")], ctx)
    assert calls == []


def test_rule_label_includes_comment() -> None:
    r = Rule("config:1", Pattern.compile("**"), ("pull",), comment="everyone pulls")
    assert r.label == "config:1 (everyone pulls)"
