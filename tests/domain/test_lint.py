"""Rule lint: a table of lists and their findings, and soundness of pattern containment."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regauth.domain.lint import ERROR, WARNING, RuleList, covers, lint, pattern_covers
from regauth.domain.patterns import Pattern
from regauth.domain.rules import Rule


def rule(
    rule_id: str,
    name: str,
    actions: tuple[str, ...] = ("pull",),
    **kw: object,
) -> Rule:
    extra = {k: Pattern.compile(str(v)) if k in ("account", "group") else v for k, v in kw.items()}
    return Rule(rule_id, Pattern.compile(name), actions, **extra)  # type: ignore[arg-type]


def user(*rules: Rule) -> RuleList:
    return RuleList("user", "alice", rules)


def messages(*lists: RuleList, **kw: object) -> list[tuple[str, str, str]]:
    found = lint(lists, **kw)  # type: ignore[arg-type]
    return [(f.level, f.rule, f.message.split(":")[0]) for f in found]


@pytest.mark.parametrize(
    ("first", "later", "expected"),
    [
        ("team/**", "team/secret/**", True),
        ("team/**", "team/*", True),
        ("team/*", "team/**", False),
        ("team/*", "team/a", True),
        ("team/*", "team/a/b", False),
        ("**", "${account}/**", True),
        ("*/**", "${account}/**", True),
        ("${account}/**", "${account}/x", True),
        ("${account}/**", "alice/x", False),
        ("a?c", "abc", True),
        ("a?c", "a/c", False),
        ("a*", "a?", True),
        ("x", "x", True),
        ("x", "y", False),
        ("**", "**", True),
        ("*", "**", False),
    ],
)
def test_pattern_containment(first: str, later: str, expected: bool) -> None:
    assert pattern_covers(Pattern.compile(first), Pattern.compile(later)) is expected


_SEGMENT = st.sampled_from(["a", "b", "ab", "*", "?", "**", "a*", "*b"])
_PATTERN = st.lists(_SEGMENT, min_size=1, max_size=3).map("/".join)
_VALUE = st.lists(st.sampled_from(["a", "b", "ab", "ba", "abb"]), min_size=1, max_size=4).map(
    "/".join
)


@given(_PATTERN, _PATTERN, _VALUE)
def test_containment_is_sound(first: str, later: str, value: str) -> None:
    a, b = Pattern.compile(first), Pattern.compile(later)
    if pattern_covers(a, b) and b.matches(value):
        assert a.matches(value)


def test_a_deny_after_a_covering_allow_is_an_error() -> None:
    found = messages(
        user(rule("u#1", "team/**", ("pull", "push")), rule("u#2", "team/secret/**", ()))
    )
    assert found == [(ERROR, "u#2", "deny never applies")]


def test_a_deny_before_the_allow_is_fine() -> None:
    assert messages(user(rule("u#1", "team/secret/**", ()), rule("u#2", "team/**"))) == []


def test_a_shadowed_allow_is_unreachable() -> None:
    found = messages(user(rule("u#1", "**"), rule("u#2", "team/*", ("push",))))
    assert found == [(ERROR, "u#2", "unreachable")]


@pytest.mark.parametrize(
    ("first", "later"),
    [
        (rule("g#1", "**", type="registry"), rule("g#2", "**")),  # other type
        (rule("g#1", "**", services=("a",)), rule("g#2", "**")),  # narrower service
        (rule("g#1", "**", account="bob"), rule("g#2", "**", account="alice")),
        (rule("g#1", "**", anonymous=True), rule("g#2", "**", account="*")),
        (
            rule("g#1", "**", networks=(ipaddress.ip_network("10.0.0.0/8"),)),
            rule("g#2", "**"),
        ),
    ],
)
def test_rules_with_narrower_matchers_do_not_shadow(first: Rule, later: Rule) -> None:
    assert not covers(first, later)


@pytest.mark.parametrize(
    ("first", "later"),
    [
        (rule("g#1", "**"), rule("g#2", "x", services=("a",))),
        (rule("g#1", "**", account="*"), rule("g#2", "x", account="ci-*")),
        (rule("g#1", "**", anonymous=False), rule("g#2", "x", group="devs")),
        (
            rule("g#1", "**", networks=(ipaddress.ip_network("10.0.0.0/8"),)),
            rule("g#2", "x", networks=(ipaddress.ip_network("10.1.0.0/16"),)),
        ),
    ],
)
def test_broader_matchers_shadow(first: Rule, later: Rule) -> None:
    assert covers(first, later)


def test_rules_that_can_never_match() -> None:
    lists = [
        user(rule("u#1", "${group}/**")),
        RuleList("group", "devs", (rule("g#1", "${group}/**", group="devs"),)),
        RuleList(
            "global",
            "",
            (
                rule("c#1", "${account}/**", anonymous=True),
                rule("c#2", "x", services=("elsewhere",)),
                rule("c#3", "x", group="ghosts"),
                rule("c#4", "x", group="dev*"),
            ),
        ),
    ]
    found = messages(*lists, known_groups=frozenset({"devs"}), services=frozenset({"reg"}))
    assert found == [
        (ERROR, "u#1", "never matches"),
        (ERROR, "c#1", "never matches"),
        (ERROR, "c#2", "never matches"),
        (WARNING, "c#3", "no local group named 'ghosts' (fine if LDAP or OIDC provides it)"),
    ]


def test_unknown_actions_and_group_level_denies() -> None:
    def known(action: str, rtype: str) -> str | None:
        return None if action in ("pull", "push") else f"unknown action {action!r}"

    lists = [
        RuleList("group", "devs", (rule("g#1", "x", ("pul",)), rule("g#2", "y", ()))),
        RuleList("global", "", (rule("c#1", "z", (), account="bob"),)),
    ]
    found = lint(lists, action_problem=known)
    assert [(f.level, f.rule) for f in found] == [(ERROR, "g#1"), (WARNING, "g#2")]
    assert "only stops this list" in found[1].message
    assert str(found[0]) == "error: group devs: g#1: unknown action 'pul'"
