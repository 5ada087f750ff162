"""The one validation of names, actions, patterns and rules.

Every place a name or a rule enters regauth (the configuration loader, the
CLI, the admin API) calls these functions, so the grammar is defined once.
Each ``*_problem`` function returns why a value is refused, or None when it
is fine; :func:`require` turns collected problems into ``admin.invalid``
(HTTP 422) naming every field at fault; pydantic validators raise
``ValueError(problem)`` instead. Nothing here does I/O.

Grammars
--------
* **Names** of users, robots and groups: 1 to 64 characters; lowercase
  letters ``a-z``, digits and ``. _ - @``; beginning and ending with a letter
  or a digit. (A user's name is also the namespace ``${account}/**`` it may
  own, so it stays close to a repository path component.)
* **Actions** per resource type: ``repository`` knows ``pull``, ``push``,
  ``delete``; ``registry`` (``registry:catalog``) knows ``*`` only; ``*``
  means "whatever was requested". Other resource types are passed through to
  policy, so any well-formed action name is accepted for them.
* **Patterns**: ``*`` matches within one path segment, ``**`` across
  segments, ``?`` one character; placeholders ``${account}`` (alias
  ``${user}``), ``${group}``, ``${service}``. For repositories the literal
  characters are those of a repository name (``a-z A-Z 0-9 . _ - / :``).
* **An empty action list denies**, and says so: a rule with no actions is
  refused unless it is marked as a deny (``deny = true`` / ``--deny``).
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence

from regauth.domain.patterns import Pattern, PatternError
from regauth.errors import AdminInvalid

NAME_GRAMMAR = "1-64 of a-z 0-9 . _ - @, starting and ending with a letter or digit"
_NAME = re.compile(r"[a-z0-9](?:[a-z0-9._@-]{0,62}[a-z0-9])?")
WILDCARD = "*"
KNOWN_ACTIONS: Mapping[str, frozenset[str]] = {
    "repository": frozenset({"pull", "push", "delete"}),
    "registry": frozenset(),
}
_ACTION = re.compile(r"[a-z][a-z0-9_-]*")
_TYPE = re.compile(r"[a-z0-9]+")
_GLOB = re.compile(r"\*\*|\*|\?|\$\{[a-z]+\}")
_REPOSITORY_CHARS = re.compile(r"[a-zA-Z0-9._/:-]*")
_NAME_PATTERN_CHARS = re.compile(r"[a-z0-9._@-]*")


def name_problem(value: str) -> str | None:
    """Why ``value`` is not a user, robot or group name (None: it is one)."""
    if not value:
        return "a name cannot be empty"
    if not _NAME.fullmatch(value):
        return f"{_quote(value)} is not a valid name ({NAME_GRAMMAR})"
    return None


def type_problem(rtype: str) -> str | None:
    if not _TYPE.fullmatch(rtype):
        return f"{_quote(rtype)} is not a resource type (e.g. repository, registry)"
    return None


def action_problem(action: str, rtype: str = "repository") -> str | None:
    """Why ``action`` is not allowed on ``rtype`` resources, with a suggestion when close."""
    if action == WILDCARD:
        return None
    known = KNOWN_ACTIONS.get(rtype)
    if known is None:
        return None if _ACTION.fullmatch(action) else f"{_quote(action)} is not an action name"
    if action in known:
        return None
    choices = sorted(known | {WILDCARD})
    close = difflib.get_close_matches(action, sorted(known), n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"unknown {rtype} action {_quote(action)} (known: {', '.join(choices)}){hint}"


def actions_problem(actions: Sequence[str], rtype: str = "repository") -> str | None:
    problems = [p for p in (action_problem(a, rtype) for a in actions) if p]
    return "; ".join(problems) or None


def deny_problem(actions: Sequence[str], deny: bool) -> str | None:
    """A rule without actions must say it is a deny; a deny has no actions."""
    if deny and actions:
        return "a deny rule has no actions (drop the actions or the deny)"
    if not deny and not actions:
        return "no actions given: list the actions to allow, or mark the rule as a deny"
    return None


def pattern_problem(source: str, rtype: str = "repository") -> str | None:
    """Why ``source`` is not a resource-name pattern for ``rtype`` resources."""
    problem = _compile_problem(source)
    if problem is None and rtype == "repository":
        literal = _GLOB.sub("", source)
        bad = _first_outside(literal, _REPOSITORY_CHARS)
        if bad is not None:
            return f"{_quote(bad)} cannot appear in a repository pattern {_quote(source)}"
    return problem


def name_pattern_problem(source: str) -> str | None:
    """Why ``source`` is not a pattern over user or group names (``account = "ci-*"``)."""
    problem = _compile_problem(source)
    if problem is None:
        bad = _first_outside(_GLOB.sub("", source), _NAME_PATTERN_CHARS)
        if bad is not None:
            return f"{_quote(bad)} cannot appear in a name pattern {_quote(source)}"
    return problem


def cidr_problem(value: str) -> str | None:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return f"{_quote(value)} is not a network (e.g. 10.0.0.0/8)"
    return None


def rule_problems(
    *,
    name: str,
    actions: Sequence[str],
    rtype: str = "repository",
    deny: bool = False,
    client_cidrs: Iterable[str] = (),
) -> dict[str, str]:
    """Every problem of one rule, by field (empty: the rule is valid)."""
    found = {
        "type": type_problem(rtype),
        "name": pattern_problem(name, rtype),
        "actions": actions_problem(actions, rtype) or deny_problem(actions, deny),
        "client_cidr": "; ".join(p for p in map(cidr_problem, client_cidrs) if p) or None,
    }
    return {k: v for k, v in found.items() if v}


def require(problems: Mapping[str, str | None]) -> None:
    """Raise ``admin.invalid`` naming every field with a problem; return when there is none."""
    found = {field: why for field, why in problems.items() if why}
    if found:
        raise AdminInvalid(found)


def _compile_problem(source: str) -> str | None:
    try:
        Pattern.compile(source)
    except PatternError as exc:
        return str(exc)
    return None


def _first_outside(text: str, allowed: re.Pattern[str]) -> str | None:
    for char in text:
        if not allowed.fullmatch(char):
            return char
    return None


def _quote(text: str) -> str:
    """Echo input back safely: printable ASCII only, bounded."""
    clean = "".join(c if 32 <= ord(c) < 127 else "?" for c in text[:80])
    return f"'{clean}'"
