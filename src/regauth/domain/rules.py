"""Account rules: ordered, first match wins, granted = requested ∩ allowed (SPEC §4.1).

A rule has *who* matchers (account glob, group, anonymous), *what* matchers
(resource type and name pattern, service, client network) and the actions it
allows: ``("*",)`` allows whatever was requested, ``()`` is an explicit deny.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
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
    """The first rule in ``rules`` that matches ``item`` for this caller, if any."""
    return next((r for r in rules if r.matches(item, ctx)), None)


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
