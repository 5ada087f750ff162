"""Local users: Basic credentials checked against argon2id (or imported bcrypt) hashes.

An unknown user costs the same as a known one with a wrong password: the
hasher verifies against a dummy hash (no username enumeration). A disabled
user or an expired password is refused only *after* the hash was checked, so
the answer time says nothing either. bcrypt hashes are upgraded to argon2id
on the next successful login.
"""

from __future__ import annotations

from regauth.authn.passwords import PasswordHasher
from regauth.domain.credentials import BasicCredential, Credential
from regauth.domain.principal import Principal
from regauth.errors import InvalidCredential
from regauth.ports import Authenticated, CallerFacts, Clock, NoOpinion, Outcome, Rejected
from regauth.store import UserStore

SOURCE = "local"


class LocalUsers:
    name = SOURCE

    def __init__(self, users: UserStore, hasher: PasswordHasher, clock: Clock) -> None:
        self._users = users
        self._hasher = hasher
        self._clock = clock

    async def authenticate(self, credential: Credential, facts: CallerFacts) -> Outcome:
        if not isinstance(credential, BasicCredential):
            return NoOpinion()
        user = await self._users.get(credential.username)
        stored = user.password_hash if user is not None else None
        result = await self._hasher.averify(stored, credential.password)
        if user is None or not result.ok:
            return NoOpinion() if user is None else Rejected(InvalidCredential())
        if user.disabled:
            return Rejected(InvalidCredential("account disabled"))
        expires = user.password_expires_at
        if expires is not None and expires <= self._clock.now():
            return Rejected(InvalidCredential("password expired"))
        if result.needs_rehash:
            await self._users.set_password(
                user.name, await self._hasher.ahash(credential.password), expires_at=expires
            )
        return Authenticated(Principal(user.name, SOURCE, frozenset(user.groups)))
