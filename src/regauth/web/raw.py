"""Query strings and headers read straight from the ASGI scope, for the ``/token`` hot path.

The answers are the ones Starlette's ``QueryParams`` and ``Headers`` give (the
router's endpoints use those), without their per-lookup work: the header list
is decoded once into a table of first values, and a query is split the way
``urllib.parse.parse_qsl(..., keep_blank_values=True)`` splits it, unquoting
only the pieces that hold a ``%`` or ``+``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TypeVar, overload
from urllib.parse import unquote

_T = TypeVar("_T")


def query_pairs(text: str) -> list[tuple[str, str]]:
    """``parse_qsl(text, keep_blank_values=True)``: name/value pairs in order, unquoted.

    ``&`` separates; empty pieces are dropped; a piece without ``=`` is a name
    with the value ``""``; ``+`` is a space and ``%XX`` escapes are UTF-8
    (invalid sequences replaced), as in an HTML form.
    """
    pairs: list[tuple[str, str]] = []
    for piece in text.split("&"):
        if not piece:
            continue
        name, _, value = piece.partition("=")
        if "%" in piece or "+" in piece:
            name = unquote(name.replace("+", " "))
            value = unquote(value.replace("+", " "))
        pairs.append((name, value))
    return pairs


class RawHeaders(Mapping[str, str]):
    """An ASGI header list as Starlette's ``Headers`` reads it.

    Lookups are case-insensitive and give the *first* value of a repeated
    header; ``getlist`` gives all of them; ``keys``, ``values``, ``items`` and
    ``len`` count every header line, repeats included (as Starlette does).
    """

    __slots__ = ("_first", "_pairs", "_repeated")

    def __init__(self, raw: Iterable[tuple[bytes, bytes]]) -> None:
        first: dict[str, str] = {}
        pairs: list[tuple[str, str]] = []
        repeated = False
        for raw_key, raw_value in raw:
            key, value = raw_key.decode("latin-1"), raw_value.decode("latin-1")
            pairs.append((key, value))
            if key in first:
                repeated = True
            else:
                first[key] = value
        self._first = first
        self._pairs = pairs
        self._repeated = repeated

    def __getitem__(self, key: str) -> str:
        return self._first[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._first

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._pairs)

    @overload
    def get(self, key: str, /) -> str | None: ...

    @overload
    def get(self, key: str, default: str, /) -> str: ...

    @overload
    def get(self, key: str, default: _T, /) -> str | _T: ...

    def get(self, key: str, default: object = None, /) -> object:
        return self._first.get(key.lower(), default)

    def getlist(self, key: str) -> list[str]:
        name = key.lower()
        if not self._repeated:
            value = self._first.get(name)
            return [] if value is None else [value]
        return [v for k, v in self._pairs if k == name]

    def count(self, key: str) -> int:
        """How many lines carry header ``key``."""
        name = key.lower()
        if not self._repeated:
            return 1 if name in self._first else 0
        return sum(1 for k, _ in self._pairs if k == name)

    def keys(self) -> list[str]:  # type: ignore[override]
        return [k for k, _ in self._pairs]

    def values(self) -> list[str]:  # type: ignore[override]
        return [v for _, v in self._pairs]

    def items(self) -> list[tuple[str, str]]:  # type: ignore[override]
        return list(self._pairs)

    def __repr__(self) -> str:
        return f"RawHeaders({[k for k, _ in self._pairs]!r})"  # names only: values may be secret
