"""Who is asking: the principal every identity source produces (SPEC §3)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from regauth.domain.rules import Rule

_EMPTY: Mapping[str, object] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated (or anonymous) caller.

    ``subject`` is ``""`` for the anonymous caller. ``source`` names the
    identity source (``local``, ``refresh_token``, ``anonymous``, …).
    ``token_rules`` is not ``None`` when the credential itself narrows access
    (a personal access token, robot or API key): the account's actions are
    intersected with them.
    """

    subject: str
    source: str
    groups: frozenset[str] = frozenset()
    claims: Mapping[str, object] = field(default_factory=lambda: _EMPTY, compare=False, hash=False)
    token_id: str | None = None
    token_rules: tuple[Rule, ...] | None = None

    @property
    def anonymous(self) -> bool:
        return self.subject == ""


ANONYMOUS = Principal(subject="", source="anonymous")
