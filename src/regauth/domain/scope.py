"""The Distribution token scope grammar (SPEC §1).

``type[(class)]:name:action[,action…]`` where the type ends at the first ``:``
and the actions start after the last ``:`` (the name may carry a
``host:port/`` prefix). Every malformed input raises :class:`MalformedScope`
and nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from regauth.errors import MalformedScope

_TYPE = re.compile(r"[a-z0-9]+(?:\([a-z0-9]+\))?")
_ACTION = re.compile(r"[a-z][a-z0-9_-]*|\*")
# Distribution's reference grammar: optional host[:port]/ prefix, then
# lowercase path components separated by "/".
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_HOST = rf"(?:{_LABEL}(?:\.{_LABEL})*(?::[0-9]+)?/)"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"(?:{_HOST})?{_COMPONENT}(?:/{_COMPONENT})*")
_OTHER_NAME = re.compile(r"[^\s,]+")
MAX_SCOPE_LENGTH = 1024


@dataclass(frozen=True, slots=True)
class Resource:
    """A thing access is asked for: ``repository:team/app`` or ``registry:catalog``."""

    type: str
    name: str
    cls: str = ""

    def __str__(self) -> str:
        kind = f"{self.type}({self.cls})" if self.cls else self.type
        return f"{kind}:{self.name}"


@dataclass(frozen=True, slots=True)
class ResourceActions:
    """A resource with an ordered, duplicate-free tuple of actions."""

    resource: Resource
    actions: tuple[str, ...]

    def __str__(self) -> str:
        return format_scope(self)


# Clients ask for the same few scopes over and over: remember the last parses
# (results are immutable; malformed input is not cached and always re-checked).
@lru_cache(maxsize=4096)
def parse_scope(text: str) -> ResourceActions:
    """Parse one scope item; raise :class:`MalformedScope` when it is not one."""
    if not text or len(text) > MAX_SCOPE_LENGTH:
        raise MalformedScope("scope is empty or too long")
    first, last = text.find(":"), text.rfind(":")
    if first <= 0 or last == first:
        raise MalformedScope(f"scope {_quote(text)} is not type:name:actions")
    kind, name, action_text = text[:first], text[first + 1 : last], text[last + 1 :]
    if not _TYPE.fullmatch(kind):
        raise MalformedScope(f"scope {_quote(text)} has an invalid resource type")
    rtype, _, cls = kind.partition("(")
    resource = Resource(rtype, name, cls.rstrip(")"))
    _check_name(resource, text)
    return ResourceActions(resource, _parse_actions(action_text, text))


def parse_scopes(items: Iterable[str]) -> tuple[ResourceActions, ...]:
    """Parse space-separated scope strings (each may hold several) and merge duplicates."""
    parsed = [parse_scope(part) for item in items for part in item.split(" ") if part]
    return (parsed[0],) if len(parsed) == 1 else merge(parsed)


def merge(items: Iterable[ResourceActions]) -> tuple[ResourceActions, ...]:
    """Merge items naming the same resource, keeping first-seen order of resources and actions."""
    order: dict[Resource, list[str]] = {}
    for item in items:
        actions = order.setdefault(item.resource, [])
        actions.extend(a for a in item.actions if a not in actions)
    return tuple(ResourceActions(r, tuple(a)) for r, a in order.items())


def format_scope(item: ResourceActions) -> str:
    return f"{item.resource}:{','.join(item.actions)}"


def _parse_actions(text: str, scope: str) -> tuple[str, ...]:
    actions: list[str] = []
    for action in text.split(","):
        if not _ACTION.fullmatch(action):
            raise MalformedScope(f"scope {_quote(scope)} has an invalid action")
        if action not in actions:
            actions.append(action)
    return tuple(actions)


def _check_name(resource: Resource, scope: str) -> None:
    grammar = _REPOSITORY if resource.type == "repository" else _OTHER_NAME
    if len(resource.name) > 255 or not grammar.fullmatch(resource.name):
        raise MalformedScope(f"scope {_quote(scope)} has an invalid resource name")


def _quote(text: str) -> str:
    """Echo client input back safely: printable ASCII only, bounded."""
    clean = "".join(c if 32 <= ord(c) < 127 else "?" for c in text[:200])
    return f"'{clean}'"
