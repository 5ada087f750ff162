from __future__ import annotations

import pytest

from regauth.domain.patterns import Pattern, PatternError


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("team/*", "team/app", True),
        ("team/*", "team/app/sub", False),
        ("team/**", "team/app/sub", True),
        ("team/**", "team/app", True),
        ("team/**", "team", False),
        ("**", "anything/at/all", True),
        ("*", "top", True),
        ("*", "a/b", False),
        ("*/app", "team/app", True),
        ("*/app", "x/y/app", False),
        ("**/app", "x/y/app", True),
        ("team/app", "team/app", True),
        ("team/app", "team/apps", False),
        ("team.x/app", "teamyx/app", False),  # dots are literal
        ("team/ap?", "team/app", True),
        ("team/ap?", "team/ap/", False),
        ("a{b}/c", "a{b}/c", True),  # braces are literal too
        ("a{b}/c", "a{{b}}/c", False),
    ],
)
def test_glob(pattern: str, name: str, expected: bool) -> None:
    assert Pattern.compile(pattern).matches(name) is expected


@pytest.mark.parametrize(
    ("pattern", "bindings", "name", "expected"),
    [
        ("${account}/**", {"account": "alice"}, "alice/app", True),
        ("${account}/**", {"account": "alice"}, "bob/app", False),
        ("${user}/**", {"account": "alice"}, "alice/app", True),
        # the value is escaped: a user named "a*" matches only the literal name
        ("${account}/**", {"account": "a*"}, "abc/app", False),
        ("${account}/**", {"account": "a.b"}, "axb/app", False),
        ("${account}/**", {"account": "a.b"}, "a.b/app", True),
        ("team-${group}/*", {"group": "dev"}, "team-dev/x", True),
        ("team-${group}/*", {"group": ""}, "team-/x", False),  # unbound never matches
        ("${account}/**", {}, "alice/x", False),
    ],
)
def test_placeholders(pattern: str, bindings: dict[str, str], name: str, expected: bool) -> None:
    assert Pattern.compile(pattern).matches(name, bindings) is expected


@pytest.mark.parametrize("pattern", ["", "${nope}/x", "$account/x", "a/${account"])
def test_invalid_patterns_fail_at_compile(pattern: str) -> None:
    with pytest.raises(PatternError):
        Pattern.compile(pattern)


def test_bound_patterns_are_cached() -> None:
    p = Pattern.compile("${account}/**")
    assert p.matches("alice/x", {"account": "alice"})
    assert p.matches("alice/y", {"account": "alice"})
    assert len(p._cache) == 1
