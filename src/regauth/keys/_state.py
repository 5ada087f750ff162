"""``keyring.json``: which stored key is current, which are retired, whether a CA is in use.

This file is the store's commit record: key and certificate files are written
first, then this file atomically, so whatever it names is complete on disk.

    {"current": "<key_id>", "current_alg": "ES256",
     "retired": [{"id": "<key_id>", "alg": "ES256", "valid_until": "<ISO 8601>"}],
     "ca": true}

``current_alg`` / ``alg`` are optional (RSA keys cannot tell RS256 from RS512
by themselves); when absent the key's natural algorithm is used. Parsing
failures raise :class:`~regauth.errors.ConfigError`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from regauth.errors import ConfigError
from regauth.keys.algorithms import Algorithm

# Key ids name files: refuse anything that could escape the signing directory.
_KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_KEY_ID_TIME = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True, slots=True)
class Retired:
    key_id: str
    alg: Algorithm | None
    valid_until: datetime


@dataclass(frozen=True, slots=True)
class StoreState:
    current: str
    current_alg: Algorithm | None
    retired: tuple[Retired, ...]
    ca: bool

    def rotated(self, key_id: str, alg: Algorithm, valid_until: datetime) -> StoreState:
        """``key_id`` becomes current; the old current verifies until ``valid_until``."""
        old = Retired(self.current, self.current_alg, valid_until)
        return replace(self, current=key_id, current_alg=alg, retired=(*self.retired, old))

    def split_expired(self, now: datetime) -> tuple[StoreState, tuple[Retired, ...]]:
        """This state without the retired keys expired at ``now``, and those keys."""
        expired = tuple(r for r in self.retired if r.valid_until <= now)
        kept = tuple(r for r in self.retired if r.valid_until > now)
        return replace(self, retired=kept), expired

    def to_json(self) -> bytes:
        document = {
            "current": self.current,
            "current_alg": self.current_alg and self.current_alg.value,
            "retired": [
                {"id": r.key_id, "alg": r.alg and r.alg.value, "valid_until": _iso(r.valid_until)}
                for r in self.retired
            ],
            "ca": self.ca,
        }
        return (json.dumps(document, indent=2) + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> StoreState:
        try:
            document = json.loads(data)
            retired = tuple(_retired(entry) for entry in document.get("retired", []))
            ca = document.get("ca", False)
            if not isinstance(ca, bool):
                raise TypeError("ca")
            return cls(_key_id(document["current"]), _alg(document.get("current_alg")), retired, ca)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ConfigError(f"keyring.json is malformed ({type(exc).__name__})") from None


def new_key_id(now: datetime, suffix: str) -> str:
    """A key id that sorts by creation time: ``20261123T114800Z-3f2a``."""
    return f"{now.astimezone(UTC).strftime(_KEY_ID_TIME)}-{suffix}"


def key_id_time(key_id: str) -> datetime | None:
    """The creation time encoded in ``key_id``, or None for a foreign id."""
    try:
        return datetime.strptime(key_id[:16], _KEY_ID_TIME).replace(tzinfo=UTC)
    except ValueError:
        return None


def _retired(entry: dict[str, object]) -> Retired:
    until = entry["valid_until"]
    if not isinstance(until, str):
        raise TypeError("valid_until")
    valid_until = datetime.fromisoformat(until)
    if valid_until.tzinfo is None:
        valid_until = valid_until.replace(tzinfo=UTC)
    return Retired(_key_id(entry["id"]), _alg(entry.get("alg")), valid_until)


def _key_id(value: object) -> str:
    if not isinstance(value, str) or not _KEY_ID.fullmatch(value):
        raise ValueError("key id")
    return value


def _alg(value: object) -> Algorithm | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError("alg")
    return Algorithm(value)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()
