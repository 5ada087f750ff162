"""Account rules: ordered, first match wins, granted = requested ∩ allowed (SPEC §4.1).

A rule has *who* matchers (account glob, group, anonymous), *what* matchers
(resource type and name pattern, service, client network) and the actions it
allows: ``("*",)`` allows whatever was requested, ``()`` is an explicit deny.

Rule lists at scale — an ordered list indexed for lookup, first match as a
linear scan without the scan: a rule whose name pattern starts with literal
path segments (``team/app/**`` → ``team``, ``app``) can only match names that
start with those segments, so :class:`RuleIndex` files the rules in a tree of
segments, per resource type. A lookup walks the requested name's segments
down the tree, gathers the rules filed on the way — wildcard-led rules
(``*/x``, ``${account}/**``, ``**``) sit at the root and are always gathered —
and tries them in their original order. The first that matches is exactly
the one a scan of the whole list would return; rules that cannot match are
never looked at. A ``RuleIndex`` *is* the tuple of its rules, so anything
that reads a rule list keeps working. Lists of up to :data:`LINEAR_UP_TO`
rules are scanned: walking the tree would cost more than trying them.
"""

from __future__ import annotations

import heapq
import ipaddress
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from regauth.domain.patterns import Pattern
from regauth.domain.principal import Principal
from regauth.domain.scope import ResourceActions

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
WILDCARD = "*"


@dataclass(frozen=True, slots=True)
class RequestContext:
    """What the rules may look at besides the resource.

    ``client_ip`` is the address as text; it is parsed only when a rule has a
    network matcher (most requests never pay for it).
    """

    principal: Principal
    service: str
    client_ip: str | None = None
    at: int = 0  # unix seconds of the request (time is passed in, never read here)
    plan: str = ""  # the principal's plan name (SPEC §4.3), resolved before evaluation

    @property
    def address(self) -> Address | None:
        return parse_address(self.client_ip)


@dataclass(frozen=True, slots=True)
class Rule:
    """One access rule; ``rule_id`` and ``comment`` appear in decision traces."""

    rule_id: str
    name: Pattern
    actions: tuple[str, ...]
    type: str = "repository"
    account: Pattern | None = None
    group: Pattern | None = None
    anonymous: bool | None = None
    services: tuple[str, ...] = ()
    networks: tuple[Network, ...] = ()
    comment: str = ""

    @property
    def label(self) -> str:
        return f"{self.rule_id} ({self.comment})" if self.comment else self.rule_id

    def applies_to(self, ctx: RequestContext) -> str | None:
        """Return the group that made it apply ("" if none needed), or None when it does not."""
        p = ctx.principal
        if self.anonymous is not None and self.anonymous != p.anonymous:
            return None
        if self.account is not None and (p.anonymous or not self.account.matches(p.subject)):
            return None
        if self.services and ctx.service not in self.services:
            return None
        if self.networks and not _in_networks(ctx.address, self.networks):
            return None
        if self.group is None:
            return ""
        return next((g for g in sorted(p.groups) if self.group.matches(g)), None)

    def matches(self, item: ResourceActions, ctx: RequestContext) -> bool:
        if item.resource.type != self.type:
            return False
        group = self.applies_to(ctx)
        if group is None:
            return False
        if not self.name.placeholders:
            return self.name.matches(item.resource.name)
        bindings = {"account": ctx.principal.subject, "service": ctx.service, "group": group}
        return self.name.matches(item.resource.name, bindings)

    def allow(self, requested: tuple[str, ...]) -> tuple[str, ...]:
        if WILDCARD in self.actions:
            return requested
        return tuple(a for a in requested if a in self.actions)


def first_match(rules: Sequence[Rule], item: ResourceActions, ctx: RequestContext) -> Rule | None:
    """The first rule in ``rules`` that matches ``item`` for this caller, if any.

    A :class:`RuleIndex` answers from its index: the same rule, without trying
    the rules that cannot match.
    """
    if isinstance(rules, RuleIndex):
        return rules.first_match(item, ctx)
    for rule in rules:
        if rule.matches(item, ctx):
            return rule
    return None


LINEAR_UP_TO = 8
Entry = tuple[int, "Rule"]  # (position in the list, rule): positions are unique


@dataclass(slots=True)
class _Node:
    here: list[Entry] = field(default_factory=list)  # rules whose literal prefix ends here
    below: dict[str, _Node] = field(default_factory=dict)

    def file(self, prefix: tuple[str, ...], entry: Entry) -> None:
        node = self
        for segment in prefix:
            node = node.below.setdefault(segment, _Node())
        node.here.append(entry)


class RuleIndex(tuple[Rule, ...]):
    """Rules in their order (a tuple), plus the segment tree built once from them."""

    _roots: dict[str, _Node]
    _linear: bool

    def __new__(cls, rules: Iterable[Rule] = (), *, linear_up_to: int = LINEAR_UP_TO) -> RuleIndex:
        self = super().__new__(cls, rules)
        self._linear = len(self) <= linear_up_to
        self._roots = {}
        if not self._linear:
            for position, rule in enumerate(self):
                root = self._roots.setdefault(rule.type, _Node())
                root.file(rule.name.literal_prefix, (position, rule))
        return self

    def candidates(self, item: ResourceActions) -> Iterator[Rule]:
        """The rules that may match ``item``'s name, in list order (all of them if linear)."""
        if self._linear:
            return iter(self)
        node = self._roots.get(item.resource.type)
        if node is None:
            return iter(())
        lists = [node.here] if node.here else []
        for segment in item.resource.name.split("/"):
            found = node.below.get(segment)
            if found is None:
                break
            node = found
            if node.here:
                lists.append(node.here)
        if len(lists) <= 1:
            return (rule for _, rule in (lists[0] if lists else ()))
        return (rule for _, rule in heapq.merge(*lists))  # positions are unique: never ties

    def first_match(self, item: ResourceActions, ctx: RequestContext) -> Rule | None:
        for rule in self if self._linear else self.candidates(item):
            if rule.matches(item, ctx):
                return rule
        return None


def _in_networks(ip: Address | None, networks: tuple[Network, ...]) -> bool:
    return ip is not None and any(ip in n for n in networks)


@lru_cache(maxsize=1024)
def parse_address(text: str | None) -> Address | None:
    """The client address, or None when absent or not an IP address."""
    if text is None:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
