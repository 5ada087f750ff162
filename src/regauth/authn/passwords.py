"""Password hashing and verification for local users (SPEC §3).

New hashes are argon2id. bcrypt hashes (imported from htpasswd) still verify
and are reported as ``needs_rehash`` so the caller can upgrade them to
argon2id after a successful login; so are argon2 hashes whose parameters are
older than the configured ones.

Verification costs the same whether or not the user exists: with no stored
hash (unknown user, robot) or an unusable one, the password is checked
against a dummy argon2id hash of the same parameters and the answer is
``ok=False``. ``verify`` never raises on bad input and never logs. The async
variants run in worker threads, bounded so that concurrent logins cannot
exhaust memory (each argon2 hash holds ``memory_cost`` KiB while it runs).
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass

import anyio
import anyio.to_thread
import bcrypt
from argon2 import PasswordHasher as Argon2Hasher
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from regauth.errors import ConfigError

_ARGON2_PREFIXES = ("$argon2id$", "$argon2i$", "$argon2d$")
_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
_BCRYPT = re.compile(r"\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}")
# bcrypt only ever looked at the first 72 bytes; bcrypt>=5 raises instead of
# truncating, so truncate as the tools that made the imported hashes did.
_BCRYPT_MAX_BYTES = 72


@dataclass(frozen=True, slots=True)
class Verification:
    """Outcome of checking a password: ``needs_rehash`` only when ``ok``."""

    ok: bool
    needs_rehash: bool


_REJECTED = Verification(ok=False, needs_rehash=False)


def _encode(password: str) -> bytes:
    # surrogatepass: a lone surrogate from a badly decoded request must not raise.
    return password.encode("utf-8", "surrogatepass")


class PasswordHasher:
    """argon2id hashing with constant-cost rejection of unknown users."""

    def __init__(
        self,
        *,
        time_cost: int = 3,
        memory_cost: int = 65536,
        parallelism: int = 4,
        max_concurrency: int | None = None,
    ) -> None:
        self._argon2 = Argon2Hasher(
            time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism, type=Type.ID
        )
        self._dummy = self._argon2.hash(os.urandom(16))
        self._limiter = anyio.CapacityLimiter(max_concurrency or os.cpu_count() or 4)

    def hash(self, password: str) -> str:
        return self._argon2.hash(_encode(password))

    def verify(self, stored: str | None, password: str) -> Verification:
        if stored is not None and stored.startswith(_ARGON2_PREFIXES):
            return self._verify_argon2(stored, password)
        if stored is not None and stored.startswith(_BCRYPT_PREFIXES):
            return self._verify_bcrypt(stored, password)
        self._burn(password)
        return _REJECTED

    async def averify(self, stored: str | None, password: str) -> Verification:
        return await anyio.to_thread.run_sync(self.verify, stored, password, limiter=self._limiter)

    async def ahash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(self.hash, password, limiter=self._limiter)

    def _verify_argon2(self, stored: str, password: str) -> Verification:
        try:
            self._argon2.verify(stored, _encode(password))
        except VerifyMismatchError:
            return _REJECTED
        except (VerificationError, InvalidHashError, ValueError):
            # A corrupt hash fails fast; pay the full price anyway.
            self._burn(password)
            return _REJECTED
        return Verification(ok=True, needs_rehash=self._argon2.check_needs_rehash(stored))

    def _verify_bcrypt(self, stored: str, password: str) -> Verification:
        try:
            ok = bcrypt.checkpw(_encode(password)[:_BCRYPT_MAX_BYTES], stored.encode("ascii"))
        except ValueError:  # also UnicodeEncodeError: a corrupt stored hash
            self._burn(password)
            return _REJECTED
        return Verification(ok=ok, needs_rehash=ok)

    def _burn(self, password: str) -> None:
        """Spend what a real verification costs, for a known-false answer."""
        with contextlib.suppress(VerificationError):
            self._argon2.verify(self._dummy, _encode(password))


def parse_htpasswd(text: str) -> list[tuple[str, str]]:
    """``(name, bcrypt_hash)`` pairs from an htpasswd file, in file order.

    Blank lines and ``#`` comments are skipped. Any other line that is not
    ``name:$2y$…`` (or ``$2a$``/``$2b$``), and a repeated name, raise
    :class:`~regauth.errors.ConfigError` naming the line number and the user,
    never the hash.
    """
    users: list[tuple[str, str]] = []
    seen: set[str] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, hashed = line.partition(":")
        if not sep or not name:
            raise ConfigError(f"line {number}: expected 'name:hash'")
        if not _BCRYPT.fullmatch(hashed):
            raise ConfigError(
                f"line {number}: user {name!r}: only bcrypt hashes ($2y$, $2a$, $2b$) "
                "can be imported; re-create it with `htpasswd -B`"
            )
        if name in seen:
            raise ConfigError(f"line {number}: user {name!r} appears twice")
        seen.add(name)
        users.append((name, hashed))
    return users
