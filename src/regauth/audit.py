"""Audit records for token decisions (SPEC §7): who, from where, requested, granted, why.

The log sink writes one JSON object per decision to the ``regauth.audit``
logger. Secrets are never part of an event.
"""

from __future__ import annotations

import logging

import anyio
import anyio.lowlevel
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
        "username": event.username,
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
    """Keeps each event for the log and the database, both written in batches.

    An event is serialised when it is recorded (one JSON document and a few
    plain columns): what waits for the next batch is strings, not the object
    graph of the decision, so the garbage collector has nothing to trace and
    the request's objects are freed at once. ``run()`` flushes every
    ``interval`` seconds (and ``flush()`` once more at shutdown): rows are
    logged as JSON lines when asked and inserted in one transaction per chunk.
    A failed insert is logged and retried with the next batch (bounded buffer).
    """

    def __init__(
        self,
        store: AuditStore,
        *,
        interval: float = 1.0,
        limit: int = 50_000,
        log_lines: bool = False,
        chunk: int = 500,
    ) -> None:
        self._store = store
        self._interval = interval
        self._limit = limit
        self._log_lines = log_lines
        self._chunk = chunk
        self._pending: list[dict[str, object]] = []  # recorded since the last flush
        self._rows: list[dict[str, object]] = []  # logged, waiting to be inserted

    def record(self, event: AuditEvent) -> None:
        self._pending.append(_row(event))

    async def flush(self) -> None:
        """Log and insert what is buffered, in chunks that let requests through."""
        pending, self._pending = self._pending, []
        logging_on = self._log_lines and log.isEnabledFor(logging.INFO)
        for start in range(0, len(pending), self._chunk):
            chunk = pending[start : start + self._chunk]
            if logging_on:
                for row in chunk:
                    log.info(row["document"])
            self._rows.extend(chunk)
            await self._write()

    async def _write(self) -> None:
        if len(self._rows) > self._limit:
            del self._rows[: len(self._rows) - self._limit]
            log.error("audit buffer full: dropped the oldest events")
        rows, self._rows = self._rows, []
        try:
            await self._store.add_many(rows)
        except Exception:
            log.exception("could not write %d audit events; will retry", len(rows))
            self._rows[:0] = rows
        await anyio.lowlevel.checkpoint()

    async def run(self) -> None:
        while True:
            await anyio.sleep(self._interval)
            if self._pending or self._rows:
                await self.flush()


def _row(event: AuditEvent) -> dict[str, object]:
    return {
        "at": event.at,
        "outcome": event.outcome,
        # A failed login has no subject: the attempted name stands in, so that
        # `audit list --user bob` finds the attempts on bob.
        "subject": event.subject or event.username,
        "source": event.source,
        "service": event.service,
        "client_ip": event.client_ip,
        "error_code": event.error_code,
        "nothing_granted": event.nothing_granted,
        "document": orjson.dumps(event_document(event)).decode(),
    }
