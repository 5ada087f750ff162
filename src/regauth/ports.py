"""Ports: the small protocols the core talks through, and their system adapters.

Time and randomness are injected everywhere (STYLE rule 7); tests pass a
frozen clock and a seeded random source. Identity sources answer with a
tagged outcome (STYLE rule 2): ``Authenticated | Rejected | NoOpinion``.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Protocol

from regauth.domain.credentials import Credential
from regauth.domain.policy import Grant
from regauth.domain.principal import Principal
from regauth.domain.rules import RequestContext
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


_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class CallerFacts:
    """What identity sources and async stages may know about the token request.

    ``url`` is the request URL as the client addressed it (scheme://host/path,
    no query) — DPoP's ``htu``. ``headers`` has lower-case names (the first
    value of a repeated header, as Starlette's ``Headers`` gives it).
    ``client_cert`` is the DER of a client certificate that was verified by our
    TLS listener or forwarded by a trusted proxy, else None.
    """

    client_ip: str | None
    service: str
    method: str = "GET"
    url: str = ""
    headers: Mapping[str, str] = field(default_factory=lambda: _NO_HEADERS)
    client_cert: bytes | None = field(default=None, repr=False)


class Authenticator(Protocol):
    """One identity source. Raising means "could not decide" (a backend is down)."""

    name: str

    async def authenticate(self, credential: Credential, facts: CallerFacts) -> Outcome: ...


class AsyncStage(Protocol):
    """An authorization stage that needs I/O (e.g. a webhook), run after the pure stages.

    Called once per requested resource that still has actions; returns the
    grant narrowed (``grant.narrow(...)`` records the decision). Must fail
    closed: an error or timeout removes the actions it was asked about.
    """

    @property
    def name(self) -> str: ...

    async def apply(self, grant: Grant, ctx: RequestContext, facts: CallerFacts) -> Grant: ...
