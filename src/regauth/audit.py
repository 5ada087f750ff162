"""Audit records for token decisions (SPEC §7): who, from where, requested, granted, why.

The log sink writes one JSON object per decision to the ``regauth.audit``
logger. Secrets are never part of an event.
"""

from __future__ import annotations

import logging

import anyio
import orjson

from regauth.service import AuditEvent
from regauth.store import AuditStore

log = logging.getLogger("regauth.audit")


def event_document(event: AuditEvent) -> dict[str, object]:
    return {
        "at": event.at.isoformat(),
        "outcome": event.outcome,
        "service": event.service,
        "client_ip": event.client_ip,
        "subject": event.subject,
        "source": event.source,
        "requested": [str(s) for s in event.requested],
        "granted": [
            {
                "resource": str(g.requested.resource),
                "actions": list(g.actions),
                "trace": [
                    {"stage": d.stage, "actions": list(d.actions), "reason": d.reason}
                    for d in g.trace
                ],
            }
            for g in event.grants
        ],
        "error": event.error_code or None,
    }


class LogAudit:
    """Writes each event as one JSON line at INFO on ``regauth.audit``."""

    def record(self, event: AuditEvent) -> None:
        if log.isEnabledFor(logging.INFO):
            log.info(orjson.dumps(event_document(event)).decode())


class DatabaseAudit:
    """Logs each event and keeps it for the database, written in batches.

    Writing one row per token request inline would put a database write on
    the hot path; instead events are buffered and ``run()`` flushes them every
    ``interval`` seconds (and ``flush()`` once more at shutdown). A failed
    write is logged and retried with the next batch (bounded buffer).
    """

    def __init__(self, store: AuditStore, *, interval: float = 1.0, limit: int = 50_000) -> None:
        self._store = store
        self._interval = interval
        self._limit = limit
        self._buffer: list[dict[str, object]] = []
        self._log = LogAudit()

    def record(self, event: AuditEvent) -> None:
        self._log.record(event)
        if len(self._buffer) >= self._limit:
            del self._buffer[: len(self._buffer) // 10]
            log.error("audit buffer full: dropped the oldest events")
        self._buffer.append(_row(event))

    async def flush(self) -> None:
        rows, self._buffer = self._buffer, []
        try:
            await self._store.add_many(rows)
        except Exception:
            log.exception("could not write %d audit events; will retry", len(rows))
            self._buffer[:0] = rows

    async def run(self) -> None:
        while True:
            await anyio.sleep(self._interval)
            if self._buffer:
                await self.flush()


def _row(event: AuditEvent) -> dict[str, object]:
    return {
        "at": event.at,
        "outcome": event.outcome,
        "subject": event.subject,
        "source": event.source,
        "service": event.service,
        "client_ip": event.client_ip,
        "error_code": event.error_code,
        "document": orjson.dumps(event_document(event)).decode(),
    }
