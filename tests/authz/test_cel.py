"""Stage 5, CEL access policies: allow/deny modes, global ∧ repository, variables, errors."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import pytest

from regauth.authz import cel_env
from regauth.authz.cel import AccessPolicy, CelPolicies
from regauth.domain.policy import Grant, Stage
from regauth.domain.principal import ANONYMOUS, Principal
from regauth.domain.rules import RequestContext
from regauth.domain.scope import parse_scope
from regauth.errors import ConfigError

AT_0730 = int(datetime(2026, 11, 23, 7, 30, tzinfo=UTC).timestamp())  # a Monday
AT_0930 = int(datetime(2026, 11, 23, 9, 30, tzinfo=UTC).timestamp())

ALICE = Principal(
    "alice",
    "oidc",
    frozenset({"dev", "ops"}),
    claims={
        "scope": "openid registry:pull",
        "org": {"tier": "gold", "ids": [1, 2]},
        "certificate_cn": "alice.example.com",
        "certificate_o": ["Example Corp"],
    },
    token_id="tok-1",
)
BOB = Principal("bob", "local", frozenset({"qa"}))


def allow(*rules: str) -> AccessPolicy:
    """Rules allow (default deny)."""
    return AccessPolicy(default_allow=False, rules=rules)


def deny(*rules: str) -> AccessPolicy:
    """Rules deny (default allow)."""
    return AccessPolicy(default_allow=True, rules=rules)


def ctx(
    principal: Principal = ALICE,
    *,
    client_ip: str | None = "10.1.2.3",
    at: int = AT_0930,
    plan: str = "",
) -> RequestContext:
    return RequestContext(principal, "registry.example.com", client_ip, at, plan)


def decide(
    scope: str,
    glob: AccessPolicy | None = None,
    repos: Mapping[str, AccessPolicy] | None = None,
    context: RequestContext | None = None,
) -> Grant:
    stage = CelPolicies.build(glob, repos or {})
    assert stage is not None
    return stage.apply(Grant.start(parse_scope(scope)), context or ctx())


PULL_ONLY = allow('request.action == "pull"')
TEAM = "repository:team/app:pull,push"
BOTH = ("pull", "push")
DEV = allow('"dev" in identity.groups')
TEAM_AND_APP = {"team": allow(), "team/app": deny()}

# How policies combine: (scope, global policy, repository policies, actions left).
COMBINATIONS = [
    pytest.param(TEAM, PULL_ONLY, {}, ("pull",), id="rules allow: one true"),
    pytest.param(TEAM, allow('identity.username == "bob"'), {}, (), id="rules allow: none true"),
    pytest.param(TEAM, allow(), {}, (), id="rules allow: no rules"),
    pytest.param(TEAM, allow("false", 'request.action == "push"'), {}, ("push",), id="any rule"),
    pytest.param(TEAM, deny('request.action == "push"'), {}, ("pull",), id="rules deny: one true"),
    pytest.param(TEAM, deny("false"), {}, BOTH, id="rules deny: none true"),
    pytest.param(TEAM, PULL_ONLY, {"team": allow("true")}, ("pull",), id="global deny, repo allow"),
    pytest.param(TEAM, PULL_ONLY, {"team": deny()}, ("pull",), id="global deny, repo default"),
    pytest.param(TEAM, deny(), {"team": PULL_ONLY}, ("pull",), id="repo deny, global allow"),
    pytest.param("repository:team/a/b:push", None, {"team": allow()}, (), id="key covers below"),
    pytest.param("repository:teammate/x:push", None, {"team": allow()}, ("push",), id="not prefix"),
    pytest.param("repository:team:push", None, {"team/": allow()}, (), id="key equals name"),
    pytest.param(TEAM, None, TEAM_AND_APP, BOTH, id="longest key wins"),
    pytest.param("repository:team/web:pull", None, TEAM_AND_APP, (), id="longest key, other"),
    pytest.param("repository:x/secret:pull", None, {"*/secret": allow()}, (), id="glob *"),
    pytest.param("repository:x/y/secret:pull", None, {"*/secret": allow()}, ("pull",), id="* /"),
    pytest.param("repository:x/y/secret:pull", None, {"**/secret": allow()}, (), id="glob **"),
    pytest.param(TEAM, None, {"team": deny(), "team/ap*": allow()}, (), id="glob longer than key"),
    pytest.param("registry:catalog:*", None, {"catalog": allow()}, ("*",), id="catalog: no repo"),
    pytest.param("registry:catalog:*", DEV, {"catalog": allow()}, ("*",), id="catalog: global"),
    pytest.param("registry:catalog:*", allow("false"), {}, (), id="catalog: global denies"),
    pytest.param(TEAM, None, {"other": allow()}, BOTH, id="no policy applies"),
]


@pytest.mark.parametrize(("scope", "glob", "repos", "expected"), COMBINATIONS)
def test_policies_combine(
    scope: str,
    glob: AccessPolicy | None,
    repos: dict[str, AccessPolicy],
    expected: tuple[str, ...],
) -> None:
    assert decide(scope, glob, repos).actions == expected


SEED_RULE = 'identity.username != null && request.action == "pull" && "dev" in identity.groups'
CERTS = (
    '"alice.example.com" in identity.certificate_cn && identity.certificate_o == ["Example Corp"]'
)
REQUEST = (
    'request.service == "registry.example.com" && request.type == "repository"'
    ' && request.name == "team/app" && request.namespace == "team"'
    ' && request.repository == "app" && request.actions == ["pull", "push"]'
)

# What rules see: (expression, context, actions of TEAM it allows).
VARIABLES = [
    ("identity.username == null", ctx(ANONYMOUS), BOTH),
    ("identity.username != null", ctx(ANONYMOUS), ()),
    ("identity.username != null", ctx(), BOTH),
    ('"dev" in identity.groups', ctx(), BOTH),
    ('"dev" in identity.groups', ctx(BOB), ()),
    (SEED_RULE, ctx(), ("pull",)),
    ('identity.client_ip.startsWith("10.")', ctx(), BOTH),
    ("identity.client_ip == null", ctx(client_ip=None), BOTH),
    ('identity.claims.scope.contains("registry:pull")', ctx(), BOTH),
    ('identity.claims.org.tier == "gold" && 2 in identity.claims.org.ids', ctx(), BOTH),
    ("!has(identity.claims.scope)", ctx(), ()),
    (CERTS, ctx(), BOTH),
    ("identity.certificate_cn == [] && identity.certificate_o == []", ctx(BOB), BOTH),
    ('identity.plan == "pro"', ctx(plan="pro"), BOTH),
    ('identity.plan == ""', ctx(), BOTH),
    ('identity.id == "tok-1"', ctx(), BOTH),
    ('identity.id == "bob"', ctx(BOB), BOTH),
    ("identity.id == null && identity.anonymous", ctx(ANONYMOUS), BOTH),
    ('identity.source == "oidc" && !identity.anonymous', ctx(), BOTH),
    (REQUEST, ctx(), BOTH),
    ('request.namespace.startsWith("team")', ctx(), BOTH),
    ('request.action == "push"', ctx(), ("push",)),
    ('now.getHours("UTC") >= 8', ctx(at=AT_0730), ()),
    ('now.getHours("UTC") >= 8', ctx(at=AT_0930), BOTH),
    ("now.getHours() == 7", ctx(at=AT_0730), BOTH),
    ('now.getHours("Europe/Paris") == 8', ctx(at=AT_0730), BOTH),
    ('now.getHours("-05:00") == 2', ctx(at=AT_0730), BOTH),
    ('now.getDayOfWeek("UTC") == 1', ctx(), BOTH),
    ('now < timestamp("2026-11-23T08:00:00Z")', ctx(at=AT_0730), BOTH),
    ('now < timestamp("2026-11-23T08:00:00Z")', ctx(at=AT_0930), ()),
]


@pytest.mark.parametrize(("rule", "context", "expected"), VARIABLES)
def test_variables(rule: str, context: RequestContext, expected: tuple[str, ...]) -> None:
    assert decide(TEAM, allow(rule), context=context).actions == expected


def test_namespace_of_a_top_level_repository() -> None:
    rule = 'request.namespace == "" && request.repository == "app" && request.name == "app"'
    assert decide("repository:app:pull", allow(rule)).actions == ("pull",)


REASONS = [
    (TEAM, allow(), {}, "global.access_policy: no rule allowed (default deny)"),
    (TEAM, deny("false"), {}, "global.access_policy: no rule denied (default allow)"),
    (TEAM, allow("false", "true"), {}, "global.access_policy.rules[1] allowed"),
    (TEAM, deny('request.action != ""'), {}, "global.access_policy.rules[0] denied"),
    (
        TEAM,
        PULL_ONLY,
        {},
        "pull: global.access_policy.rules[0] allowed;"
        " push: global.access_policy: no rule allowed (default deny)",
    ),
    (
        "repository:team/app:pull",
        deny(),
        {"team": deny("false", "true")},
        "global.access_policy: no rule denied (default allow),"
        ' repository."team".access_policy.rules[1] denied',
    ),
    (
        "repository:team/app:push",
        PULL_ONLY,
        {"team": allow("true")},
        "global.access_policy: no rule allowed (default deny)",
    ),
    (TEAM, None, {"other": allow()}, "no access policy applies"),
]


@pytest.mark.parametrize(("scope", "glob", "repos", "reason"), REASONS)
def test_trace_names_what_decided(
    scope: str, glob: AccessPolicy | None, repos: dict[str, AccessPolicy], reason: str
) -> None:
    (step,) = decide(scope, glob, repos).trace
    assert step.stage == "cel"
    assert step.reason == reason


FAILING = [
    'identity.claims.missing == "x"',  # no such key
    'identity.claims.scope + 1 == "x"',  # no such overload
    "identity.username",  # not a bool
    'now.getHours("Mars/Olympus") == 1',  # unknown time zone
    "nosuchvariable",
    "1 / 0 == 1",
]


@pytest.mark.parametrize("bad", FAILING)
@pytest.mark.parametrize("policy", [allow, deny], ids=["rules-allow", "rules-deny"])
def test_failing_rule_is_skipped_and_logged(
    bad: str, policy: Callable[..., AccessPolicy], caplog: pytest.LogCaptureFixture
) -> None:
    other = 'request.action == "pull"' if policy is allow else 'request.action == "push"'
    grant = decide(TEAM, policy(bad, other))
    assert grant.actions == ("pull",)  # the failing rule neither allowed nor denied; the other did
    warnings = [r for r in caplog.records if r.name == "regauth.authz.cel"]
    assert warnings
    assert all(r.levelname == "WARNING" for r in warnings)
    assert all("global.access_policy.rules[0]" in r.getMessage() for r in warnings)
    assert not any("alice" in r.getMessage() or "openid" in r.getMessage() for r in warnings)


def test_failing_value_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    decide(TEAM, allow("identity.claims[identity.username] == 1"))  # KeyError('alice')
    (record, *_) = caplog.records
    assert "alice" not in record.getMessage()


@pytest.mark.parametrize(
    ("glob", "repos", "path"),
    [
        (allow("true", "identity.username =="), {}, "global.access_policy.rules[1]"),
        (allow('"abc'), {}, "global.access_policy.rules[0]"),
        (
            None,
            {"team": deny("true", "true", "a &&& b")},
            'repository."team".access_policy.rules[2]',
        ),
        (
            PULL_ONLY,
            {"ok": deny(), "bad/*": allow("foo(")},
            'repository."bad/*".access_policy.rules[0]',
        ),
    ],
)
def test_compile_error_names_the_rule(
    glob: AccessPolicy | None, repos: dict[str, AccessPolicy], path: str
) -> None:
    with pytest.raises(ConfigError) as info:
        CelPolicies.build(glob, repos)
    assert info.value.path == path
    assert path in str(info.value)
    assert "Syntax error" in str(info.value)  # the library's own message


@pytest.mark.parametrize("key", ["", "/", "team/*/${user}", "team/*/$x"])
def test_bad_repository_key(key: str) -> None:
    with pytest.raises(ConfigError) as info:
        CelPolicies.build(None, {key: allow()})
    assert info.value.path.startswith("repository.")


def test_nothing_configured_builds_nothing() -> None:
    assert CelPolicies.build(None, {}) is None


def test_is_a_stage() -> None:
    stage: Stage | None = CelPolicies.build(allow(), {})
    assert stage is not None
    assert stage.name == "cel"


def test_identity_is_converted_once_per_request(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[RequestContext] = []
    real = cel_env.new_context

    def counting(context: RequestContext) -> object:
        calls.append(context)
        return real(context)

    monkeypatch.setattr("regauth.authz.cel.new_context", counting)
    stage = CelPolicies.build(allow('"dev" in identity.groups'), {})
    assert stage is not None
    first, second = ctx(), ctx(BOB)
    for scope in (TEAM, "repository:team/web:pull,push,delete", "registry:catalog:*"):
        assert stage.apply(Grant.start(parse_scope(scope)), first).actions
    assert not stage.apply(Grant.start(parse_scope(TEAM)), second).actions
    assert calls == [first, second]


def test_odd_claim_values_still_convert() -> None:
    odd = Principal("carol", "oidc", claims={"tags": frozenset({"b", "a"}), "obj": object()})
    rule = 'identity.claims.tags == ["a", "b"] && type(identity.claims.obj) == string'
    assert decide(TEAM, allow(rule), context=ctx(odd)).actions == ("pull", "push")
