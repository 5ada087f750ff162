"""Rule lint: rules that never decide, denies that never apply, unknown names.

Pure: takes the ordered rule lists the server evaluates (a user's own list,
each group's list, the global list of the config file) and returns findings.
Within one list the first matching rule wins, so a rule is *shadowed* when
an earlier rule of the same list matches every request it matches; that
earlier rule may be an allow sitting before the deny meant to carve out an
exception (``team/**`` then a deny on ``team/secret/**``). Containment is
decided on the patterns themselves, conservatively: a finding means the rule
really is unreachable, while some unreachable rules may go unreported.

Levels: ``error`` for a rule that can never take effect or names an action
that does not exist; ``warning`` for a rule that may be intended (a group
that is not local may come from LDAP or OIDC; a deny in a group's list only
empties that list, other lists may still grant).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from regauth.domain.patterns import Pattern
from regauth.domain.rules import WILDCARD, Network, Rule

ERROR = "error"
WARNING = "warning"
_TOKEN = re.compile(r"\*\*|\*|\?|\$\{[a-z]+\}|.", re.DOTALL)
_ALIASES = {"${user}": "${account}"}


@dataclass(frozen=True, slots=True)
class RuleList:
    """One ordered list: ``kind`` is user | group | global, ``owner`` its user or group."""

    kind: str
    owner: str
    rules: tuple[Rule, ...]

    @property
    def title(self) -> str:
        return "global rules" if self.kind == "global" else f"{self.kind} {self.owner}"


@dataclass(frozen=True, slots=True)
class Finding:
    level: str
    list: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.list}: {self.rule}: {self.message}"


ActionCheck = Callable[[str, str], str | None]


def lint(
    lists: Iterable[RuleList],
    *,
    known_groups: frozenset[str] | None = None,
    services: frozenset[str] = frozenset(),
    action_problem: ActionCheck | None = None,
) -> tuple[Finding, ...]:
    """Every finding over ``lists``, in list then rule order.

    ``known_groups``: the local groups (None: do not check group names);
    ``services``: the served services (empty: do not check);
    ``action_problem(action, type)``: why an action is unknown, or None.
    """
    found: list[Finding] = []
    for rule_list in lists:
        for index, rule in enumerate(rule_list.rules):
            found.extend(_rule_findings(rule_list, rule, known_groups, services, action_problem))
            found.extend(_shadowing(rule_list, rule, rule_list.rules[:index]))
    return tuple(found)


def _rule_findings(
    rule_list: RuleList,
    rule: Rule,
    known_groups: frozenset[str] | None,
    services: frozenset[str],
    action_problem: ActionCheck | None,
) -> Iterable[Finding]:
    def finding(level: str, message: str) -> Finding:
        return Finding(level, rule_list.title, rule.label, message)

    for message in _never_matches(rule_list, rule, known_groups, services):
        yield finding(ERROR if "never matches" in message else WARNING, message)
    for action in rule.actions if action_problem else ():
        problem = action_problem(action, rule.type) if action_problem else None
        if problem:
            yield finding(ERROR, problem)
    if not rule.actions and not _user_level(rule_list, rule):
        yield finding(
            WARNING,
            "this deny only stops this list: other lists (groups, global rules) may still "
            "grant; a deny overrides them only in the user's own list or on a global rule "
            "naming the account",
        )


def _never_matches(
    rule_list: RuleList, rule: Rule, known_groups: frozenset[str] | None, services: frozenset[str]
) -> Iterable[str]:
    names = set(rule.name.placeholders)
    if "group" in names and rule.group is None and rule_list.kind != "group":
        where = "a user's rule" if rule_list.kind == "user" else "a rule without a group matcher"
        yield f"never matches: ${{group}} in {where} has no group to stand for"
    if names & {"account", "user"} and rule.anonymous is True:
        yield "never matches: ${account} on a rule for anonymous callers (they have no name)"
    if rule.account is not None and rule.anonymous is True:
        yield "never matches: an account matcher on a rule for anonymous callers"
    unknown = [s for s in rule.services if services and s not in services]
    if unknown:
        yield f"never matches: service {', '.join(unknown)} is not served (token.services)"
    group = _source(rule.group)
    if known_groups is not None and group is not None and _unknown(group, known_groups):
        yield f"no local group named {group!r} (fine if LDAP or OIDC provides it)"


def _shadowing(rule_list: RuleList, rule: Rule, earlier: Sequence[Rule]) -> Iterable[Finding]:
    for first in earlier:
        if not covers(first, rule):
            continue
        if not rule.actions and first.actions:
            message = (
                f"deny never applies: {first.label} allows {_actions(first)} on everything "
                f"it matches and comes first; move the deny above it"
            )
        else:
            message = f"unreachable: {first.label} comes first and matches everything it matches"
        yield Finding(ERROR, rule_list.title, rule.label, message)
        return


def covers(first: Rule, later: Rule) -> bool:
    """True when every request ``later`` matches is matched by ``first``."""
    if first.type != later.type:
        return False
    if first.services and not set(later.services or ("\0",)) <= set(first.services):
        return False
    if first.networks and not _networks_cover(first, later):
        return False
    if not _who_covers(first, later):
        return False
    if "group" in first.name.placeholders and _source(first.group) != _source(later.group):
        return False
    return pattern_covers(first.name, later.name)


def _networks_cover(first: Rule, later: Rule) -> bool:
    def inside(net: Network) -> bool:
        return any(net.version == f.version and net.subnet_of(f) for f in first.networks)  # type: ignore[arg-type]

    return bool(later.networks) and all(inside(n) for n in later.networks)


def _who_covers(first: Rule, later: Rule) -> bool:
    if first.anonymous is not None and first.anonymous != later.anonymous:
        signed_in_only = later.account is not None or later.group is not None
        if not (first.anonymous is False and signed_in_only):
            return False
    for mine, theirs in ((first.account, later.account), (first.group, later.group)):
        if mine is not None and (theirs is None or not pattern_covers(mine, theirs)):
            return False
    return True


def pattern_covers(first: Pattern, later: Pattern) -> bool:
    """True when every value ``later`` can match, ``first`` matches too (conservative)."""
    return _covers(_tokens(first.source), _tokens(later.source))


def _tokens(source: str) -> tuple[str, ...]:
    return tuple(_ALIASES.get(t, t) for t in _TOKEN.findall(source))


@lru_cache(maxsize=4096)
def _covers(first: tuple[str, ...], later: tuple[str, ...]) -> bool:
    if not first:
        return not later
    head, rest = first[0], first[1:]
    if head == "**":
        return _covers(rest, later) or (bool(later) and _covers(first, later[1:]))
    if head == "*":
        absorbs = bool(later) and later[0] not in ("/", "**")
        return _covers(rest, later) or (absorbs and _covers(first, later[1:]))
    if not later:
        return False
    if head == "?":
        ok = later[0] == "?" or (len(later[0]) == 1 and later[0] not in "/*")
        return ok and _covers(rest, later[1:])
    return later[0] == head and _covers(rest, later[1:])


def _unknown(group: str, known: frozenset[str]) -> bool:
    literal = not any(t in group for t in ("*", "?", "${"))
    return literal and group not in known


def _source(pattern: Pattern | None) -> str | None:
    return None if pattern is None else pattern.source


def _user_level(rule_list: RuleList, rule: Rule) -> bool:
    return rule_list.kind == "user" or rule.account is not None


def _actions(rule: Rule) -> str:
    return "everything requested" if WILDCARD in rule.actions else ",".join(rule.actions)
