"""Browser sessions of the web UI, kept in the database (shared by every worker).

The cookie holds a random id (256 bits); the database holds its SHA-256, so a
copy of the database opens no session. A session is created at sign-in,
deleted at sign-out, and ends ``ttl`` seconds after sign-in or ``idle``
seconds after its last request, whichever comes first. Each session carries
its own CSRF token, which every form of the UI sends back.

Sign-in with a password goes through :class:`PasswordSignIn`: the password
sources of the token endpoint (local accounts, then LDAP) behind the very
same throttle, so failures at ``/ui`` and at ``/token`` count together.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from regauth.domain.credentials import BasicCredential
from regauth.domain.principal import Principal
from regauth.errors import AuthenticationError, InvalidCredential
from regauth.ports import Authenticated, Authenticator, CallerFacts, Clock, Random, Rejected
from regauth.service import LoginThrottle
from regauth.store.ui_sessions import SessionRecord, UiSessionStore

if TYPE_CHECKING:
    from regauth.authn.oidc_login import OidcSignIn

# last_seen_at is written at most this often: a page view is not a write per request.
TOUCH_EVERY = timedelta(seconds=30)
# Ended sessions and abandoned OIDC sign-ins are deleted by a sign-in at most this often.
PURGE_EVERY = timedelta(hours=1)


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class BrowserSession:
    """A signed-in browser. ``csrf_token`` goes into every form of the UI."""

    principal: Principal
    csrf_token: str = field(repr=False)
    created_at: datetime
    expires_at: datetime
    id_hash: str = field(repr=False)

    @property
    def subject(self) -> str:
        return self.principal.subject

    def csrf_ok(self, presented: str) -> bool:
        return hmac.compare_digest(self.csrf_token.encode(), presented.encode("utf-8", "replace"))


def _principal_json(principal: Principal) -> str:
    claims = {k: v for k, v in principal.claims.items() if isinstance(v, str | int | bool | list)}
    body = {"groups": sorted(principal.groups), "claims": claims}
    return json.dumps(body, sort_keys=True, default=str)


def _principal(record: SessionRecord) -> Principal:
    try:
        body = json.loads(record.principal_json)
    except json.JSONDecodeError:
        body = {}
    groups = body.get("groups", []) if isinstance(body, dict) else []
    claims = body.get("claims", {}) if isinstance(body, dict) else {}
    return Principal(
        record.subject,
        record.source,
        frozenset(str(g) for g in groups if isinstance(g, str)),
        claims if isinstance(claims, dict) else {},
    )


class BrowserSessions:
    def __init__(
        self, store: UiSessionStore, clock: Clock, random: Random, *, ttl: float, idle: float
    ) -> None:
        self._store = store
        self._clock = clock
        self._random = random
        self._ttl = timedelta(seconds=ttl)
        self._idle = timedelta(seconds=idle)
        self._next_purge: datetime | None = None

    async def start(
        self, principal: Principal, *, client_ip: str | None, user_agent: str
    ) -> tuple[str, BrowserSession]:
        """A new session; returns the raw id (for the cookie only) and the session."""
        raw = self._random.token_urlsafe(32)
        now = self._clock.now()
        if self._next_purge is None or now >= self._next_purge:
            self._next_purge = now + PURGE_EVERY
            await self._store.purge(now, now - self._idle)
        record = SessionRecord(
            id_hash=digest(raw),
            subject=principal.subject,
            source=principal.source,
            principal_json=_principal_json(principal),
            csrf_token=self._random.token_urlsafe(24),
            created_at=now,
            last_seen_at=now,
            expires_at=now + self._ttl,
            client_ip=client_ip,
            user_agent=user_agent,
        )
        await self._store.create(record)
        return raw, self._session(record)

    async def find(self, raw: str) -> BrowserSession | None:
        """The live session for a cookie value, or None (unknown, expired or idle too long)."""
        if not raw or len(raw) > 128:
            return None
        now = self._clock.now()
        record = await self._store.get(digest(raw), now)
        if record is None:
            return None
        if record.last_seen_at + self._idle <= now:
            await self._store.delete(record.id_hash)
            return None
        if now - record.last_seen_at >= TOUCH_EVERY:
            await self._store.touch(record.id_hash, now)
        return self._session(record)

    async def end(self, session: BrowserSession) -> None:
        await self._store.delete(session.id_hash)

    async def end_others(self, session: BrowserSession) -> int:
        """Sign out every other browser of this user (after a password change)."""
        return await self._store.delete_subject(session.subject, keep=session.id_hash)

    async def purge(self) -> None:
        now = self._clock.now()
        await self._store.purge(now, now - self._idle)

    def _session(self, record: SessionRecord) -> BrowserSession:
        return BrowserSession(
            principal=_principal(record),
            csrf_token=record.csrf_token,
            created_at=record.created_at,
            expires_at=record.expires_at,
            id_hash=record.id_hash,
        )


class PasswordSignIn:
    """Username and password → principal, through the password sources and the throttle."""

    def __init__(self, sources: Sequence[Authenticator], throttle: LoginThrottle) -> None:
        self._sources = tuple(sources)
        self._throttle = throttle

    async def sign_in(self, username: str, password: str, facts: CallerFacts) -> Principal:
        """Raise ThrottledError (429) or an AuthenticationError; the principal otherwise."""
        await self._throttle.check(username, facts.client_ip)
        try:
            principal = await self._identify(BasicCredential(username, password), facts)
        except AuthenticationError:
            await self._throttle.failed(username, facts.client_ip)
            raise
        await self._throttle.succeeded(username, facts.client_ip)
        return principal

    async def _identify(self, credential: BasicCredential, facts: CallerFacts) -> Principal:
        for source in self._sources:
            outcome = await source.authenticate(credential, facts)
            if isinstance(outcome, Authenticated):
                return outcome.principal
            if isinstance(outcome, Rejected):
                raise outcome.error
        raise InvalidCredential()


@dataclass
class UiServices:
    """What the web UI needs from the runtime: sessions, sign-in, optional OIDC."""

    sessions: BrowserSessions
    password: PasswordSignIn
    clock: Clock
    random: Random
    oidc: OidcSignIn | None = None
