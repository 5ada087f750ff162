"""Registry notifications in: Distribution's event envelopes, validated and stored once.

The registry POSTs ``{"events": [...]}`` (media type
``application/vnd.docker.distribution.events.v1+json``) to ``/events/registry``
with the static header it is configured to send. :func:`parse_envelope` is
pure and all-or-nothing: one bad event makes the whole envelope a 400 and
nothing is stored. :class:`RegistryEvents` stores each event once by its id
(a replay is a no-op), writes an audit row next to the token decisions and
an outbox event ``registry.<action>`` in the same transaction, which commits
before the registry is answered.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import insert

from regauth.errors import EventsError
from regauth.events.outbox import enqueue_many, event_row
from regauth.ports import Random
from regauth.store import Database
from regauth.store._queries import conflict_insert
from regauth.store.models_authz import AuditRow
from regauth.store.models_events import RegistryEventRow

MEDIA_TYPES = frozenset({"application/vnd.docker.distribution.events.v1+json", "application/json"})
ACTIONS = frozenset({"push", "pull", "delete", "mount"})
MAX_EVENTS = 1000
_FRACTION = re.compile(r"(\.\d{6})\d+")


@dataclass(frozen=True, slots=True)
class RegistryEvent:
    id: str
    action: str
    at: datetime
    repository: str
    tag: str = ""
    digest: str = ""
    media_type: str = ""
    actor: str = ""
    source_addr: str = ""
    request_id: str = ""
    method: str = ""
    user_agent: str = ""
    instance: str = ""

    def document(self) -> dict[str, object]:
        doc = asdict(self)
        doc["at"] = self.at.isoformat()
        return doc


def _bad(detail: str) -> EventsError:
    return EventsError(f"malformed notification envelope: {detail}")


def parse_envelope(body: bytes) -> tuple[RegistryEvent, ...]:
    """Every event of the envelope, or EventsError (400) naming the first problem."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise _bad("not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("events"), list):
        raise _bad('expected an object with an "events" list')
    events = data["events"]
    if len(events) > MAX_EVENTS:
        raise _bad(f"more than {MAX_EVENTS} events")
    return tuple(_event(item, n) for n, item in enumerate(events))


def _event(item: object, n: int) -> RegistryEvent:
    if not isinstance(item, dict):
        raise _bad(f"events[{n}] is not an object")
    action = _text(item, "action", n, required=True)
    if action not in ACTIONS:
        raise _bad(f"events[{n}].action is not one of push, pull, delete, mount")
    target = _object(item, "target", n, required=True)
    request, actor, source = (_object(item, k, n) for k in ("request", "actor", "source"))
    return RegistryEvent(
        id=_text(item, "id", n, required=True),
        action=action,
        at=_timestamp(item.get("timestamp"), n),
        repository=_text(target, "repository", n, required=True, where="target."),
        tag=_text(target, "tag", n, where="target."),
        digest=_text(target, "digest", n, where="target."),
        media_type=_text(target, "mediaType", n, where="target."),
        actor=_text(actor, "name", n, where="actor."),
        source_addr=_text(request, "addr", n, where="request."),
        request_id=_text(request, "id", n, where="request."),
        method=_text(request, "method", n, where="request."),
        user_agent=_text(request, "useragent", n, where="request.", limit=255),
        instance=_text(source, "instanceID", n, where="source."),
    )


def _object(item: Mapping[str, object], key: str, n: int, required: bool = False) -> dict[str, Any]:
    value = item.get(key)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise _bad(f"events[{n}].{key} is not an object")
    return value


def _text(
    item: Mapping[str, object],
    key: str,
    n: int,
    *,
    required: bool = False,
    where: str = "",
    limit: int = 128,
) -> str:
    value = item.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value) or len(value) > limit:
        raise _bad(f"events[{n}].{where}{key} must be a string of at most {limit} characters")
    if any(ord(c) < 0x20 for c in value):
        raise _bad(f"events[{n}].{where}{key} contains control characters")
    return value


def _timestamp(value: object, n: int) -> datetime:
    if not isinstance(value, str) or len(value) > 64:
        raise _bad(f"events[{n}].timestamp is not an RFC 3339 time")
    try:
        at = datetime.fromisoformat(_FRACTION.sub(r"\1", value))
    except ValueError:
        raise _bad(f"events[{n}].timestamp is not an RFC 3339 time") from None
    if at.tzinfo is None:
        raise _bad(f"events[{n}].timestamp has no time zone")
    return at.astimezone(UTC)


def event_type(action: str) -> str:
    return f"registry.{action}"


class RegistryEvents:
    """Stores notifications; returns the events that were new (replays are skipped)."""

    def __init__(self, db: Database, random: Random) -> None:
        self._db = db
        self._random = random

    async def record(
        self, events: Sequence[RegistryEvent], now: datetime
    ) -> tuple[RegistryEvent, ...]:
        if not events:
            return ()
        unique = {e.id: e for e in events}  # one envelope may repeat an id
        upsert = conflict_insert(self._db.dialect)
        async with self._db.engine.begin() as conn:
            stmt = (
                upsert(RegistryEventRow)
                .values([_row(e, now) for e in unique.values()])
                .on_conflict_do_nothing(index_elements=["id"])
                .returning(RegistryEventRow.id)
            )
            fresh = {row.id for row in await conn.execute(stmt)}
            new = tuple(e for e in unique.values() if e.id in fresh)
            if new:
                await conn.execute(insert(AuditRow), [_audit(e) for e in new])
                await enqueue_many(conn, [self._outbox(e) for e in new])
        return new

    def _outbox(self, e: RegistryEvent) -> dict[str, Any]:
        return event_row(self._random.token_hex(16), event_type(e.action), e.at, e.document())


def _row(e: RegistryEvent, now: datetime) -> dict[str, object]:
    return {
        "id": e.id,
        "action": e.action,
        "at": e.at,
        "received_at": now,
        "repository": e.repository,
        "tag": e.tag,
        "digest": e.digest,
        "media_type": e.media_type,
        "actor": e.actor,
        "source_addr": e.source_addr,
        "request_id": e.request_id,
        "document": orjson.dumps(e.document()).decode(),
    }


def _audit(e: RegistryEvent) -> dict[str, object]:
    """An audit row shown by ``audit list`` among the token decisions."""
    reference = e.tag or e.digest
    document: dict[str, object] = {
        "at": e.at.isoformat(),
        "outcome": event_type(e.action),
        "kind": "registry",
        "subject": e.actor or None,
        "client_ip": _host(e.source_addr),
        "requested": [],
        "granted": [],
        "registry": e.document(),
        "reference": f"{e.repository}:{reference}" if e.tag else f"{e.repository}@{reference}",
        "error": None,
    }
    return {
        "at": e.at,
        "outcome": event_type(e.action),
        "subject": e.actor or None,
        "source": "registry",
        "service": "",
        "client_ip": _host(e.source_addr),
        "error_code": "",
        "document": orjson.dumps(document).decode(),
    }


def _host(addr: str) -> str | None:
    """``127.0.0.1:57090`` → ``127.0.0.1``; ``[::1]:5000`` → ``::1``."""
    if not addr:
        return None
    host = addr.rsplit(":", 1)[0] if addr.count(":") == 1 or addr.startswith("[") else addr
    return host.strip("[]")[:64]
