"""Repository-name patterns: ``*`` within one path segment, ``**`` across segments.

Placeholders (``${account}``/``${user}``, ``${group}``, ``${service}``) are
substituted at match time with the value *escaped*, so a user called ``a*``
matches only the literal ``a*``. The glob is translated to a regular
expression once, at load; a substituted pattern is compiled once per distinct
set of values and cached (bounded), so the hot path never compiles.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

PLACEHOLDERS = frozenset({"account", "user", "group", "service"})
_TOKEN = re.compile(r"\*\*|\*|\$\{([a-z]+)\}|\?")
_WILD = frozenset("*?$")  # a segment holding any of these is not literal
_CACHE_LIMIT = 4096


class PatternError(ValueError):
    """A pattern is not valid (raised at load time, never while matching)."""


@dataclass(frozen=True, slots=True)
class Pattern:
    """A compiled glob. ``Pattern.compile("team/**")``."""

    source: str
    _template: str = field(repr=False)
    _names: tuple[str, ...] = field(repr=False)
    _static: re.Pattern[str] | None = field(repr=False, compare=False)
    _cache: dict[tuple[str, ...], re.Pattern[str]] = field(
        default_factory=dict, repr=False, compare=False, hash=False
    )
    _prefix: tuple[str, ...] = field(default=(), repr=False, compare=False)

    @classmethod
    def compile(cls, source: str) -> Pattern:
        template, names = _translate(source)
        static = re.compile(template.format()) if not names else None  # format: {{ → {
        return cls(source, template, names, static, _prefix=_literal_segments(source))

    @property
    def placeholders(self) -> tuple[str, ...]:
        return self._names

    @property
    def literal_prefix(self) -> tuple[str, ...]:
        """The leading ``/``-separated segments that hold no wildcard or placeholder.

        Every name this pattern matches starts with exactly these segments
        (``team/app-*/**`` → ``("team",)``; ``*/x`` and ``${account}/**`` → ``()``),
        whatever the bindings: rule indexes rely on it.
        """
        return self._prefix

    def matches(self, value: str, bindings: Mapping[str, str] | None = None) -> bool:
        """True when ``value`` matches; a placeholder without a binding never matches."""
        regex = self._static or self._bound(bindings or {})
        return regex is not None and regex.fullmatch(value) is not None

    def _bound(self, bindings: Mapping[str, str]) -> re.Pattern[str] | None:
        values = tuple(bindings.get(_canonical(n), "") for n in self._names)
        if not all(values):
            return None
        regex = self._cache.get(values)
        if regex is None:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            escaped = {f"p{i}": re.escape(v) for i, v in enumerate(values)}
            regex = self._cache[values] = re.compile(self._template.format(**escaped))
        return regex


def _literal_segments(source: str) -> tuple[str, ...]:
    segments = source.split("/")
    count = next((i for i, seg in enumerate(segments) if _WILD.intersection(seg)), len(segments))
    return tuple(segments[:count])


def _canonical(name: str) -> str:
    return "account" if name == "user" else name


def _translate(source: str) -> tuple[str, tuple[str, ...]]:
    if not source:
        raise PatternError("pattern is empty")
    parts: list[str] = []
    names: list[str] = []
    pos = 0
    for token in _TOKEN.finditer(source):
        parts.append(_literal(source[pos : token.start()]))
        parts.append(_token(token, names, source))
        pos = token.end()
    parts.append(_literal(source[pos:]))
    return "".join(parts), tuple(names)


def _token(token: re.Match[str], names: list[str], source: str) -> str:
    text = token.group(0)
    if text == "**":
        return ".*"
    if text == "*":
        return "[^/]*"
    if text == "?":
        return "[^/]"
    name = token.group(1)
    if name not in PLACEHOLDERS:
        raise PatternError(f"unknown placeholder ${{{name}}} in {source!r}")
    names.append(name)
    return f"{{p{len(names) - 1}}}"


def _literal(text: str) -> str:
    if "$" in text:
        raise PatternError(f"malformed placeholder in {text!r}")
    return re.escape(text).replace("{", "{{").replace("}", "}}")
