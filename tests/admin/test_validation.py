"""The one validation of names, actions, patterns and rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regauth.admin.validation import (
    action_problem,
    actions_problem,
    deny_problem,
    name_pattern_problem,
    name_problem,
    pattern_problem,
    require,
    rule_problems,
)
from regauth.errors import AdminInvalid


@pytest.mark.parametrize("name", ["alice", "ci-bot", "a", "team.a_b", "bob@example.com", "a1"])
def test_valid_names(name: str) -> None:
    assert name_problem(name) is None


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "cannot be empty"),
        ("Alice", "not a valid name"),
        ("-alice", "not a valid name"),
        ("alice-", "not a valid name"),
        ("a b", "not a valid name"),
        (":", "not a valid name"),
        ("a/b", "not a valid name"),
        ("x" * 65, "not a valid name"),
        ("é", "not a valid name"),
    ],
)
def test_invalid_names(name: str, why: str) -> None:
    problem = name_problem(name)
    assert problem is not None and why in problem


@given(st.text(max_size=80))
def test_any_text_is_either_a_name_or_refused_with_a_printable_reason(text: str) -> None:
    problem = name_problem(text)
    if problem is not None:
        assert problem.isprintable() and len(problem) < 200


@pytest.mark.parametrize(
    ("action", "rtype", "hint"),
    [
        ("pul", "repository", "did you mean pull?"),
        ("psh", "repository", "did you mean push?"),
        ("delet", "repository", "did you mean delete?"),
        ("catalog", "registry", "known: *"),
        ("Pull", "widget", "not an action name"),
    ],
)
def test_unknown_actions_are_refused_with_a_suggestion(action: str, rtype: str, hint: str) -> None:
    problem = action_problem(action, rtype)
    assert problem is not None and hint in problem


@pytest.mark.parametrize(
    ("action", "rtype"),
    [("pull", "repository"), ("*", "repository"), ("*", "registry"), ("scan", "widget")],
)
def test_known_actions(action: str, rtype: str) -> None:
    assert action_problem(action, rtype) is None


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("x/[", "'[' cannot appear"),
        ("", "empty"),
        ("${who}/x", "unknown placeholder"),
        ("a$b", "malformed placeholder"),
        ("team/ x", "' ' cannot appear"),
    ],
)
def test_patterns_that_do_not_compile_are_refused(pattern: str, why: str) -> None:
    problem = pattern_problem(pattern)
    assert problem is not None and why in problem


@pytest.mark.parametrize(
    "pattern",
    ["**", "team/**", "${account}/*", "registry.local:5000/app", "a?c", "${group}/x"],
)
def test_valid_patterns(pattern: str) -> None:
    assert pattern_problem(pattern) is None


def test_name_patterns_use_the_name_alphabet() -> None:
    assert name_pattern_problem("ci-*") is None
    assert "'/' cannot appear" in (name_pattern_problem("ci/*") or "")


def test_an_empty_action_list_must_say_it_is_a_deny() -> None:
    assert "mark the rule as a deny" in (deny_problem((), deny=False) or "")
    assert deny_problem((), deny=True) is None
    assert "has no actions" in (deny_problem(("pull",), deny=True) or "")
    assert actions_problem(("pull", "pul")) is not None


def test_rule_problems_name_every_field_and_require_raises_them_all() -> None:
    problems = rule_problems(name="x/[", actions=("pul",), client_cidrs=("10.0.0.0/33",))
    assert set(problems) == {"name", "actions", "client_cidr"}
    with pytest.raises(AdminInvalid) as invalid:
        require(problems)
    assert invalid.value.fields == problems
    assert "name: " in invalid.value.detail and "did you mean pull?" in invalid.value.detail
    require({"name": None})  # nothing at fault: no error
