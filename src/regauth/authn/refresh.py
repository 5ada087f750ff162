"""Refresh tokens: long-lived, reusable, revocable, bound to the user (SPEC §1).

Docker stores one on ``docker login`` (GET ``offline_token=true``) and sends
it as POST ``grant_type=refresh_token`` for every later operation. Only the
SHA-256 of the random secret is stored. A token stops working when it
expires, is revoked, or its user is disabled.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta

from regauth.authn.local import Principals
from regauth.domain.credentials import Credential, RefreshCredential
from regauth.domain.principal import Principal
from regauth.errors import InvalidCredential, TokenExpired
from regauth.ports import Authenticated, CallerFacts, Clock, NoOpinion, Outcome, Random, Rejected
from regauth.store import TokenRecord, TokenStore, UserRecord, UserStore

SOURCE = "refresh_token"
PREFIX = "regauth_rt_"
KIND = "refresh"


def secret_hash(secret: str) -> str:
    """Tokens are 256-bit random: a plain SHA-256 is enough to store them safely."""
    return hashlib.sha256(secret.encode()).hexdigest()


class RefreshTokens:
    name = SOURCE

    def __init__(
        self, tokens: TokenStore, users: UserStore, clock: Clock, random: Random, ttl: int
    ) -> None:
        self._tokens = tokens
        self._users = users
        self._clock = clock
        self._random = random
        self._ttl = timedelta(seconds=ttl)
        self._principals = Principals()

    async def authenticate(self, credential: Credential, facts: CallerFacts) -> Outcome:
        if not isinstance(credential, RefreshCredential):
            return NoOpinion()
        record = await self._tokens.find_by_hash(secret_hash(credential.token))
        if record is None or record.kind != KIND or record.revoked_at is not None:
            return Rejected(InvalidCredential("refresh token is not valid"))
        if record.user_disabled:
            return Rejected(InvalidCredential("account disabled"))
        if credential.username and credential.username != record.user_name:
            return Rejected(InvalidCredential("refresh token is not valid"))
        if record.expires_at is not None and record.expires_at <= self._clock.now():
            return Rejected(TokenExpired("refresh token has expired"))
        user = await self._users.get(record.user_name)
        if user is None:
            return Rejected(InvalidCredential("refresh token is not valid"))
        self._tokens.record_use(record.id, addr=facts.client_ip)
        return Authenticated(self._principals.get(record.id, (record, user), _maker(record, user)))

    async def issue(self, subject: str, client_id: str) -> str:
        """Create a refresh token for ``subject``; the raw secret is returned once."""
        secret = PREFIX + self._random.token_urlsafe(32)
        await self._tokens.create(
            token_id=self._random.token_hex(6),
            user_name=subject,
            kind=KIND,
            secret_hash=secret_hash(secret),
            expires_at=self._clock.now() + self._ttl,
            client_id=client_id[:128],
        )
        return secret


def _maker(record: TokenRecord, user: UserRecord) -> Callable[[], Principal]:
    def make() -> Principal:
        groups, claims = frozenset(user.groups), dict(user.attributes)
        return Principal(user.name, SOURCE, groups, claims, token_id=record.id)

    return make
