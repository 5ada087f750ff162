"""Account rules from the database, compiled once per distinct rule (SPEC §4.1).

``rules_for`` is called once per token request for an authenticated
principal: one indexed query, then rules are compiled through an LRU cache so
patterns are never recompiled on the hot path. The anonymous caller has no
database rules and costs no query.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from regauth.domain.patterns import Pattern
from regauth.domain.principal import Principal
from regauth.domain.rules import Rule
from regauth.store import RuleRecord, RuleStore

GroupRules = tuple[tuple[str, tuple[Rule, ...]], ...]


@lru_cache(maxsize=8192)
def compile_record(record: RuleRecord) -> Rule:
    """A stored rule as the engine evaluates it.

    A group's rule carries its group as the group matcher, so ``${group}``
    in its pattern stands for that group (in a user's rule it matches nothing).
    """
    prefix = "user" if record.owner_kind == "user" else "group"
    bind_group = record.owner_kind == "group" and "${group}" in record.name
    return Rule(
        rule_id=f"{prefix}:{record.owner}#{record.id}",
        name=Pattern.compile(record.name),
        actions=record.actions,
        type=record.type,
        services=record.services,
        networks=tuple(ipaddress.ip_network(c, strict=False) for c in record.client_cidrs),
        comment=record.comment,
        group=Pattern.compile(_escape_glob(record.owner)) if bind_group else None,
    )


def _escape_glob(name: str) -> str:
    # Names are validated (no glob characters); a legacy name that has some
    # simply makes the rule match nothing rather than more groups.
    return name if name.isascii() and not set(name) & set("*?${}") else "\\never"


class DatabaseRules:
    def __init__(self, rules: RuleStore) -> None:
        self._rules = rules

    async def rules_for(self, principal: Principal) -> tuple[tuple[Rule, ...], GroupRules]:
        if principal.anonymous:
            return (), ()
        own, by_group = await self._rules.for_principal(principal.subject, principal.groups)
        groups = tuple(
            (group, tuple(compile_record(r) for r in by_group[group])) for group in sorted(by_group)
        )
        return tuple(compile_record(r) for r in own), groups
