"""Ports: the small protocols the core talks through, and their system adapters.

Time and randomness are injected everywhere (STYLE rule 7); tests pass a
frozen clock and a seeded random source. Identity sources answer with a
tagged outcome (STYLE rule 2): ``Authenticated | Rejected | NoOpinion``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from regauth.domain.credentials import Credential
from regauth.domain.principal import Principal
from regauth.errors import AuthenticationError


class Clock(Protocol):
    """Tells the current time as an aware UTC datetime."""

    def now(self) -> datetime: ...


class Random(Protocol):
    """Source of unpredictable URL-safe and hex strings."""

    def token_urlsafe(self, nbytes: int) -> str: ...

    def token_hex(self, nbytes: int) -> str: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class SystemRandom:
    def token_urlsafe(self, nbytes: int) -> str:
        return secrets.token_urlsafe(nbytes)

    def token_hex(self, nbytes: int) -> str:
        return secrets.token_hex(nbytes)


@dataclass(frozen=True, slots=True)
class Authenticated:
    principal: Principal


@dataclass(frozen=True, slots=True)
class Rejected:
    """The source knows this credential and refuses it (wrong password, revoked…)."""

    error: AuthenticationError


@dataclass(frozen=True, slots=True)
class NoOpinion:
    """The credential is not this source's kind; the next source is asked."""


Outcome = Authenticated | Rejected | NoOpinion


@dataclass(frozen=True, slots=True)
class CallerFacts:
    """What an identity source may know about the request besides the credential."""

    client_ip: str | None
    service: str


class Authenticator(Protocol):
    """One identity source. Raising means "could not decide" (a backend is down)."""

    name: str

    async def authenticate(self, credential: Credential, facts: CallerFacts) -> Outcome: ...
