"""Compile the config file's ``[[rules]]`` into domain rules, once, at load."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from regauth.config.rules import RuleSettings
from regauth.domain.patterns import Pattern
from regauth.domain.rules import Rule


def compile_rules(entries: Iterable[RuleSettings], prefix: str = "config") -> tuple[Rule, ...]:
    """Rules get ids ``config:1``, ``config:2``… in file order (shown in decision traces)."""
    return tuple(_compile(i, entry, prefix) for i, entry in enumerate(entries, start=1))


def _compile(index: int, entry: RuleSettings, prefix: str) -> Rule:
    return Rule(
        rule_id=f"{prefix}:{index}",
        name=Pattern.compile(entry.name),
        actions=entry.actions,
        type=entry.type,
        account=Pattern.compile(entry.account) if entry.account is not None else None,
        group=Pattern.compile(entry.group) if entry.group is not None else None,
        anonymous=entry.anonymous,  # anyone = true: no who-matcher at all
        services=entry.service,
        networks=tuple(ipaddress.ip_network(c, strict=False) for c in entry.client_cidr),
        comment=entry.comment,
    )
