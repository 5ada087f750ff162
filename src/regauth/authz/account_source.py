"""Account rules from the database, compiled and indexed once per cache fill (SPEC §4.1).

``rules_for`` is called once per token request for an authenticated
principal. What it returns is cached per (user, groups) for
``database.cache_seconds``: a hit costs one dictionary lookup, whatever the
number of rules. A fill makes one indexed query, compiles each rule once
(rules are shared through an LRU cache, so a group's rules are compiled
once for all its members) and builds the lookup index of each list
(:class:`~regauth.domain.rules.RuleIndex`), also shared between the users of
a group. The anonymous caller has no database rules and costs no query.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from regauth.domain.patterns import Pattern
from regauth.domain.principal import Principal
from regauth.domain.rules import Rule, RuleIndex
from regauth.ports import Clock
from regauth.store import RuleRecord, RuleStore
from regauth.store.cache import ReadCache

GroupRules = tuple[tuple[str, tuple[Rule, ...]], ...]
AccountRuleLists = tuple[tuple[Rule, ...], GroupRules]
_NONE: AccountRuleLists = (RuleIndex(), ())


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


@lru_cache(maxsize=4096)
def index_records(records: tuple[RuleRecord, ...]) -> RuleIndex:
    """One owner's list, compiled and indexed (the same list gives the same object)."""
    return RuleIndex(compile_record(r) for r in records)


class DatabaseRules:
    """The principal's own and its groups' rules, read through a per-process cache."""

    def __init__(self, rules: RuleStore, clock: Clock, ttl: float = 0.0) -> None:
        self._rules = rules
        self._cache: ReadCache[tuple[str, frozenset[str]], AccountRuleLists] = ReadCache(clock, ttl)

    def forget(self) -> None:
        """Drop the cached lists (an admin change made in this process shows at once)."""
        self._cache.clear()

    async def aclose(self) -> None:
        await self._cache.aclose()

    async def rules_for(self, principal: Principal) -> AccountRuleLists:
        if principal.anonymous:
            return _NONE
        key = (principal.subject, principal.groups)
        return await self._cache.get(key, lambda: self._load(*key))

    async def _load(self, user: str, groups: frozenset[str]) -> AccountRuleLists:
        own, by_group = await self._rules.for_principal(user, groups)
        indexed = tuple((g, index_records(tuple(by_group[g]))) for g in sorted(by_group))
        return index_records(tuple(own)), indexed
