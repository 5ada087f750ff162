"""API keys: raw keys checked against SHA-256 fingerprints from the environment (seed 002).

Each configured key has an ``id``, the name of an environment variable
(``hash_env``) holding ``sha256:<64 lowercase hex>``, ``scopes`` and optional
``rules``. A presented key is hashed and compared in constant time with every
fingerprint; the raw key is never stored, logged or put in an exception.

Where a key may arrive (SPEC §3), and what this source answers:

* ``X-Api-Key`` (:class:`ApiKeyCredential`): match → authenticated, else rejected;
* ``Authorization: Bearer``: match → authenticated, else no opinion (an OIDC
  JWT may be next in the chain);
* Basic with a configured ``id`` as the username: the password is the key
  (mismatch → rejected); any other username → no opinion.

An :class:`ApiKeys` is immutable. Reloading (SIGHUP) builds a new one with
:meth:`ApiKeys.build` from the new settings and environment and swaps it in;
a build error keeps the old one.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from regauth.authz.config_rules import compile_rules
from regauth.config.apikeys import ApiKeySettings
from regauth.domain.credentials import (
    ApiKeyCredential,
    BasicCredential,
    BearerCredential,
    Credential,
)
from regauth.domain.principal import Principal
from regauth.domain.rules import Rule
from regauth.errors import ConfigError, InvalidCredential
from regauth.ports import Authenticated, CallerFacts, NoOpinion, Outcome, Rejected

SOURCE = "apikey"
PREFIX = "regauth_ak_"
FINGERPRINT_PREFIX = "sha256:"
_FINGERPRINT = re.compile(r"sha256:[0-9a-f]{64}")
_EMPTY_KEY = hashlib.sha256(b"").hexdigest()


def digest(raw_key: str) -> bytes:
    """SHA-256 of a presented key (keys are high-entropy: no slow hash needed)."""
    return hashlib.sha256(raw_key.encode("utf-8", "surrogatepass")).digest()


def fingerprint(raw_key: str) -> str:
    """``sha256:<hex>``: the value to put in the ``hash_env`` variable."""
    return FINGERPRINT_PREFIX + digest(raw_key).hex()


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One loaded key: its fingerprint digest and what a caller holding it becomes."""

    id: str
    digest: bytes
    scopes: tuple[str, ...]
    rules: tuple[Rule, ...] | None

    def principal(self) -> Principal:
        # A fresh claims dict per login: nothing downstream can alter the key's scopes.
        claims = {"scopes": list(self.scopes)}
        return Principal(
            self.id, SOURCE, frozenset(), claims, token_id=self.id, token_rules=self.rules
        )


class ApiKeys:
    """The API-key identity source (``name = "apikey"``); immutable once built."""

    __slots__ = ("_ids", "_keys")
    name = SOURCE

    def __init__(self, keys: Sequence[ApiKey]) -> None:
        self._keys = tuple(keys)
        self._ids = frozenset(k.id for k in self._keys)

    @classmethod
    def build(cls, keys: Sequence[ApiKeySettings], environ: Mapping[str, str]) -> ApiKeys:
        """Load every fingerprint; raise ConfigError naming the dotted path and variable."""
        loaded: list[ApiKey] = []
        first_index: dict[str, int] = {}
        by_digest: dict[bytes, int] = {}
        for i, entry in enumerate(keys):
            if entry.id in first_index:
                other = f"auth.api_keys[{first_index[entry.id]}]"
                message = f"duplicate API key id {entry.id!r} (also {other})"
                raise ConfigError(message, path=f"auth.api_keys[{i}].id")
            first_index[entry.id] = i
            key = _load(i, entry, environ)
            if key.digest in by_digest:
                message = (
                    f"environment variable {entry.hash_env} holds the same fingerprint as "
                    f"auth.api_keys[{by_digest[key.digest]}]: give every key its own raw key"
                )
                raise ConfigError(message, path=f"auth.api_keys[{i}].hash_env")
            by_digest[key.digest] = i
            loaded.append(key)
        return cls(loaded)

    @property
    def ids(self) -> frozenset[str]:
        return self._ids

    def __len__(self) -> int:
        return len(self._keys)

    def match(self, raw_key: str) -> ApiKey | None:
        """The key whose fingerprint matches, comparing against every key (no early exit)."""
        presented = digest(raw_key)
        found: ApiKey | None = None
        for key in self._keys:
            if hmac.compare_digest(presented, key.digest):
                found = key
        return found

    async def authenticate(self, credential: Credential, facts: CallerFacts) -> Outcome:
        if isinstance(credential, ApiKeyCredential):
            return self._decide(self.match(credential.key), on_mismatch=None)
        if isinstance(credential, BearerCredential):
            return self._decide(self.match(credential.token), on_mismatch=_NO_OPINION)
        if isinstance(credential, BasicCredential) and credential.username in self._ids:
            key = self.match(credential.password)
            if key is not None and key.id != credential.username:
                key = None
            return self._decide(key, on_mismatch=None)
        return _NO_OPINION

    @staticmethod
    def _decide(key: ApiKey | None, *, on_mismatch: NoOpinion | None) -> Outcome:
        """``on_mismatch=None`` rejects (a fresh error each time: errors carry tracebacks)."""
        if key is not None:
            return Authenticated(key.principal())
        if on_mismatch is not None:
            return on_mismatch
        return Rejected(InvalidCredential("invalid API key"))


_NO_OPINION = NoOpinion()


def _load(index: int, entry: ApiKeySettings, environ: Mapping[str, str]) -> ApiKey:
    path = f"auth.api_keys[{index}].hash_env"
    name = entry.hash_env
    value = environ.get(name)
    if value is None:
        raise ConfigError(f"environment variable {name} is not set", path=path)
    if not _FINGERPRINT.fullmatch(value):
        # Never echo the value: say what shape is expected, and the usual mistakes.
        raise ConfigError(
            f"environment variable {name} must hold 'sha256:' followed by 64 lowercase hex "
            "characters (check for uppercase hex, a missing prefix or trailing whitespace)",
            path=path,
        )
    hex_digest = value.removeprefix(FINGERPRINT_PREFIX)
    if hex_digest == _EMPTY_KEY:
        raise ConfigError(
            f"environment variable {name} holds the fingerprint of an empty key", path=path
        )
    rules = compile_rules(entry.rules, prefix=f"apikey:{entry.id}") if entry.rules else None
    return ApiKey(entry.id, bytes.fromhex(hex_digest), entry.scopes, rules)
