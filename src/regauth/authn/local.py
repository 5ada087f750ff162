"""Local users: Basic credentials checked against argon2id (or imported bcrypt) hashes.

An unknown user costs the same as a known one with a wrong password: the
hasher verifies against a dummy hash (no username enumeration). A disabled
user or an expired password is refused only *after* the hash was checked, so
the answer time says nothing either. bcrypt hashes are upgraded to argon2id
on the next successful login.

Docker asks for a token on nearly every request with the same Basic
credentials, so successful verifications are remembered for ``cache_ttl``
seconds (:class:`VerifiedLogins`). The user is still read on every login, and
a remembered login counts only while the stored hash is the one that verified
it and the account is usable: a password change or a disable made by any
process takes effect at once. Failures are never remembered, so a cache hit
is possible only for someone who already knows the password.

A login that is used on and on (a CI robot) would otherwise pay one full
hash every ``cache_ttl`` seconds, and every login in flight with it would
wait for that hash: a stall of a few hundred milliseconds once a minute per
worker. Instead, the first hit in the last fifth of an entry's life verifies
the password again in a task of its own (the same check, rehash included)
and renews the entry when it succeeds; the hit itself is answered from the
entry, which is valid until its TTL as before.
"""

from __future__ import annotations

import hashlib
import logging
import operator
import os
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import datetime, timedelta

import anyio

from regauth.authn.passwords import PasswordHasher
from regauth.domain.credentials import BasicCredential, Credential
from regauth.domain.principal import Principal
from regauth.errors import InvalidCredential
from regauth.ports import Authenticated, CallerFacts, Clock, NoOpinion, Outcome, Rejected
from regauth.singleflight import SingleFlight
from regauth.store import UserRecord, UserStore
from regauth.tasks import BackgroundTasks

SOURCE = "local"
log = logging.getLogger("regauth.authn")


class VerifiedLogins:
    """A bounded, short-lived memory of (username, password) pairs that verified.

    The key is a keyed BLAKE2b MAC (RFC 7693, 256 bits) under a secret drawn when
    the process starts, so the cache holds neither a password nor a hash of one
    that could be attacked offline. The value is the stored hash that verified it,
    when a hit should renew it (:meth:`due`) and its expiry.
    """

    def __init__(self, clock: Clock, ttl: float, size: int, *, renew_after: float = 0.8) -> None:
        """``renew_after``: the fraction of ``ttl`` after which a hit is due to be verified
        again in the background (:meth:`due`; 1 or more: never)."""
        if ttl < 0 or size < 0:
            raise ValueError("cache_ttl and cache_size must not be negative")
        self._clock = clock
        self._ttl = timedelta(seconds=ttl)
        self._renew = timedelta(seconds=ttl * renew_after) if renew_after < 1 else None
        self._size = size
        # Keyed once; each key() copies the keyed state (no per-call key schedule).
        self._mac = hashlib.blake2b(key=os.urandom(32), digest_size=32)
        # key -> (the hash that verified it, when it is due for renewal, when it expires)
        self._entries: OrderedDict[bytes, tuple[str, datetime | None, datetime]] = OrderedDict()
        self._enabled = self._ttl > timedelta(0) and self._size > 0

    @property
    def enabled(self) -> bool:
        return self._enabled

    def __len__(self) -> int:
        return len(self._entries)

    def key(self, username: str, password: str) -> bytes:
        user = username.encode("utf-8", "surrogatepass")
        # Length-prefixed: no (username, password) pair can spell another one.
        message = len(user).to_bytes(4, "big") + user + password.encode("utf-8", "surrogatepass")
        mac = self._mac.copy()
        mac.update(message)
        return mac.digest()

    def holds(self, key: bytes, password_hash: str | None, now: datetime | None = None) -> bool:
        """True when ``key`` verified against this very ``password_hash`` and has not expired.

        Any other answer drops the entry.
        """
        entry = self._entries.get(key)
        if entry is None:
            return False
        stored, _, expires = entry
        if password_hash is None or stored != password_hash:
            del self._entries[key]
            return False
        if expires <= (self._clock.now() if now is None else now):
            del self._entries[key]
            return False
        self._entries.move_to_end(key)  # the most recently used
        return True

    def due(self, key: bytes, now: datetime) -> bool:
        """True when the entry of ``key`` is old enough to be verified again (see above)."""
        entry = self._entries.get(key)
        return entry is not None and entry[1] is not None and entry[1] <= now

    def remember(self, key: bytes, password_hash: str) -> None:
        if not self.enabled:
            return
        self._entries.pop(key, None)
        while len(self._entries) >= self._size:
            self._entries.popitem(last=False)
        now = self._clock.now()
        renew = now + self._renew if self._renew is not None else None
        self._entries[key] = (password_hash, renew, now + self._ttl)

    def forget(self, key: bytes) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()


class LocalUsers:
    name = SOURCE

    def __init__(
        self,
        users: UserStore,
        hasher: PasswordHasher,
        clock: Clock,
        *,
        cache_ttl: float = 60.0,
        cache_size: int = 10000,
        renew_after: float = 0.8,
    ) -> None:
        """``cache_ttl=0`` (or ``cache_size=0``) turns the verified-login cache off;
        ``renew_after`` (a fraction of it, 1 = never) is when a hit renews its entry."""
        self._users = users
        self._hasher = hasher
        self._clock = clock
        self._cache = VerifiedLogins(clock, cache_ttl, cache_size, renew_after=renew_after)
        self._verifying: SingleFlight[bytes] = SingleFlight()
        self._principals = Principals()
        self._renewals = BackgroundTasks()

    @property
    def cache(self) -> VerifiedLogins:
        return self._cache

    async def authenticate(self, credential: Credential, facts: CallerFacts) -> Outcome:
        if not isinstance(credential, BasicCredential):
            return NoOpinion()
        user = await self._users.get(credential.username)
        cache = self._cache
        if not cache.enabled:
            return await self._verify(user, credential, None)
        key = cache.key(credential.username, credential.password)
        # Identical logins in flight (a CI farm's robot) share one hash when the entry expires.
        while True:
            if user is not None and self._cached(key, user, credential):
                return Authenticated(self._principals.of(user))
            if not await self._verifying.wait(key):
                break
        async with self._verifying.lead(key):
            return await self._verify(user, credential, key)

    def _cached(self, key: bytes, user: UserRecord, credential: BasicCredential) -> bool:
        now = self._clock.now()
        if self._refusal(user, now) is not None:
            self._cache.forget(key)
            return False
        if not self._cache.holds(key, user.password_hash, now):
            return False
        if self._cache.due(key, now) and not self._verifying.running(key):
            self._renew(user, credential, key)
        return True

    def _renew(self, user: UserRecord, credential: BasicCredential, key: bytes) -> None:
        """Verify a remembered login again in a task of its own (see the module's text)."""
        done = self._verifying.begin(key)  # logins reaching the expiry meanwhile wait for it
        self._renewals.spawn(self._renewal(user, credential, key, done))

    async def _renewal(
        self, user: UserRecord, credential: BasicCredential, key: bytes, done: anyio.Event
    ) -> None:
        try:
            outcome = await self._verify(user, credential, key)
            if not isinstance(outcome, Authenticated):
                self._cache.forget(key)
        except Exception as exc:  # the entry expires as it would have; its next login reports
            log.debug("renewing a remembered login failed: %s", type(exc).__name__)
        finally:
            self._verifying.end(key, done)

    async def aclose(self) -> None:
        """Cancel the renewals under way."""
        await self._renewals.aclose()

    async def _verify(
        self, user: UserRecord | None, credential: BasicCredential, key: bytes | None
    ) -> Outcome:
        stored = user.password_hash if user is not None else None
        result = await self._hasher.averify(stored, credential.password)
        if user is None or not result.ok:
            return NoOpinion() if user is None else Rejected(InvalidCredential())
        refusal = self._refusal(user)
        if refusal is not None:
            return Rejected(refusal)
        verified = user.password_hash
        if result.needs_rehash:
            verified = await self._hasher.ahash(credential.password)
            expires = user.password_expires_at
            await self._users.set_password(user.name, verified, expires_at=expires)
        if key is not None and verified is not None:
            self._cache.remember(key, verified)
        return Authenticated(self._principals.of(user))

    def _refusal(self, user: UserRecord, now: datetime | None = None) -> InvalidCredential | None:
        """Why a user whose password is right may not log in, if it may not."""
        if user.disabled:
            return InvalidCredential("account disabled")
        expires = user.password_expires_at
        if expires is not None and expires <= (self._clock.now() if now is None else now):
            return InvalidCredential("password expired")
        return None


class Principals:
    """The principal of a user record, made once per record read (not once per login).

    The user cache hands out the same record object until it reads the user
    again, so a principal is reused exactly while it is built from the very
    record (and token) it would be built from now. Principals are immutable.
    """

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._entries: dict[Hashable, tuple[tuple[object, ...], Principal]] = {}

    def of(self, user: UserRecord, source: str = SOURCE) -> Principal:
        key = (user.name, source)
        entry = self._entries.get(key)
        if entry is not None and len(entry[0]) == 1 and entry[0][0] is user:
            return entry[1]  # the usual case, without building the maker
        return self.get(key, (user,), lambda: principal(user, source))

    def get(
        self, key: Hashable, basis: tuple[object, ...], make: Callable[[], Principal]
    ) -> Principal:
        """The principal made from ``basis`` (compared by identity) under ``key``."""
        entry = self._entries.get(key)
        same = entry is not None and len(entry[0]) == len(basis)
        if entry is not None and same and all(map(operator.is_, entry[0], basis)):
            return entry[1]
        made = make()
        if len(self._entries) >= self._size:
            self._entries.clear()
        self._entries[key] = (basis, made)
        return made


def principal(user: UserRecord, source: str = SOURCE) -> Principal:
    return Principal(user.name, source, frozenset(user.groups), dict(user.attributes))
