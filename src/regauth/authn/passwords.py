"""Password hashing and verification for local users (SPEC §3).

New hashes are argon2id. bcrypt hashes (imported from htpasswd) still verify
and are reported as ``needs_rehash`` so the caller can upgrade them to
argon2id after a successful login; so are argon2 hashes whose parameters are
older than the configured ones.

A failed verification costs the same whatever the user had: with no stored
hash (unknown user, robot) or an unusable one, the password is checked
against a dummy argon2id hash of the current parameters; a wrong password
for a hash that is cheaper than that (bcrypt imported from htpasswd, argon2
with older parameters, a corrupt hash) is checked, then the answer waits
until the price of a dummy verification has been paid. That price is
measured: when the dummy hash is made, then as a moving average of every
verification at the current parameters, so it follows the machine's load.
(A stored hash *dearer* than the dummy — bcrypt with a high cost — still
answers later; rehash such users.) ``verify`` never raises on bad input and
never logs. The async variants run in worker threads, bounded so that
concurrent logins cannot exhaust memory (each argon2 hash holds
``memory_cost`` KiB while it runs); the wait happens outside those threads.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
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
# Weight of the newest verification in the moving average of their cost.
_COST_WEIGHT = 0.2


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
    """argon2id hashing; every rejection costs what a dummy argon2id verification costs."""

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
        started = time.perf_counter()
        self._dummy = self._argon2.hash(os.urandom(16))
        self._cost = (
            time.perf_counter() - started
        )  # seconds a verification at these parameters takes
        self._limiter = anyio.CapacityLimiter(max_concurrency or os.cpu_count() or 4)

    @property
    def rejection_cost(self) -> float:
        """Seconds every rejected password costs (the moving average of a full verification)."""
        return self._cost

    def hash(self, password: str) -> str:
        return self._argon2.hash(_encode(password))

    def verify(self, stored: str | None, password: str) -> Verification:
        result, short_by = self._check(stored, password)
        if short_by > 0:
            time.sleep(short_by)
        return result

    async def averify(self, stored: str | None, password: str) -> Verification:
        check = self._check
        result, short_by = await anyio.to_thread.run_sync(
            check, stored, password, limiter=self._limiter
        )
        if short_by > 0:
            await anyio.sleep(short_by)
        return result

    async def ahash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(self.hash, password, limiter=self._limiter)

    def _check(self, stored: str | None, password: str) -> tuple[Verification, float]:
        """The outcome, and the seconds a rejection must still wait to cost the full price."""
        started = time.perf_counter()
        if stored is not None and stored.startswith(_ARGON2_PREFIXES):
            result, full_price = self._verify_argon2(stored, password)
        elif stored is not None and stored.startswith(_BCRYPT_PREFIXES):
            result, full_price = self._verify_bcrypt(stored, password), False
        else:
            self._burn(password)
            result, full_price = _REJECTED, True
        spent = time.perf_counter() - started
        if full_price:
            self._cost += _COST_WEIGHT * (spent - self._cost)
            return result, 0.0
        return result, 0.0 if result.ok else self._cost - spent

    def _verify_argon2(self, stored: str, password: str) -> tuple[Verification, bool]:
        """The outcome, and whether it cost a verification at the current parameters."""
        try:
            current = not self._argon2.check_needs_rehash(stored)
            self._argon2.verify(stored, _encode(password))
        except VerifyMismatchError:
            return _REJECTED, current
        except (VerificationError, InvalidHashError, ValueError):
            return _REJECTED, False  # a corrupt hash fails fast: the rejection waits
        return Verification(ok=True, needs_rehash=not current), current

    def _verify_bcrypt(self, stored: str, password: str) -> Verification:
        try:
            ok = bcrypt.checkpw(_encode(password)[:_BCRYPT_MAX_BYTES], stored.encode("ascii"))
        except ValueError:  # also UnicodeEncodeError: a corrupt stored hash
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
