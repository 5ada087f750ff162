"""Audit records for token decisions (SPEC §7): who, from where, requested, granted, why.

The log sink writes one JSON object per decision to the ``regauth.audit``
logger. Secrets are never part of an event.
"""

from __future__ import annotations

import logging

import anyio
import anyio.lowlevel
import orjson

from regauth.domain.policy import Grant
from regauth.service import AuditEvent
from regauth.spool import DOCUMENT, Position, Spool, Values, recover
from regauth.store import AuditStore

log = logging.getLogger("regauth.audit")
# A row (spool.COLUMNS order), the spool segment holding it and where its line ends there.
Pending = tuple[Values, str, int]
_LINE = orjson.OPT_APPEND_NEWLINE


def event_document(
    event: AuditEvent, at: str | None = None, granted: object = None
) -> dict[str, object]:
    """The JSON document of one decision (``at``: ``event.at`` in ISO 8601, when at hand;
    ``granted``: the document of ``event.grants``, e.g. :func:`granted_json`'s)."""
    return {
        "at": at if at is not None else event.at.isoformat(),
        "outcome": event.outcome,
        "service": event.service,
        "client_ip": event.client_ip,
        "subject": event.subject,
        "username": event.username,
        "source": event.source,
        "requested": [str(s) for s in event.requested],
        "granted": _granted(event.grants) if granted is None else granted,
        "error": event.error_code or None,
    }


def _granted(grants: tuple[Grant, ...]) -> list[dict[str, object]]:
    return [
        {
            "resource": str(g.requested.resource),
            "actions": list(g.actions),
            "trace": [
                {"stage": d.stage, "actions": list(d.actions), "reason": d.reason} for d in g.trace
            ],
        }
        for g in grants
    ]


MAX_GRANTED = 4096
# id(grants) → (the grants, held so that the id stays theirs; their JSON)
_granted_memo: dict[int, tuple[tuple[Grant, ...], orjson.Fragment]] = {}


def granted_json(grants: tuple[Grant, ...]) -> orjson.Fragment:
    """The ``granted`` part of the document, serialised once per grants object: remembered
    decisions (the anonymous caller's, a principal's while its record is cached) hand the
    same tuple back request after request."""
    entry = _granted_memo.get(id(grants))
    if entry is not None and entry[0] is grants:
        return entry[1]
    fragment = orjson.Fragment(orjson.dumps(_granted(grants)))
    if len(_granted_memo) >= MAX_GRANTED:
        _granted_memo.clear()
    _granted_memo[id(grants)] = (grants, fragment)
    return fragment


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

    With a :class:`~regauth.spool.Spool`, each row is also appended to the
    local spool when recorded (written to the file at once, or, with
    ``spool_fsync = "before_answer"``, in the next group commit, which
    :meth:`durable` waits for: the web edge awaits it before answering). So
    every answered request's record survives a crash of the process (see
    :mod:`regauth.spool`). Each
    batch's transaction moves the spool's drain mark; ``run()`` also replays,
    at start and every ``recover_interval`` seconds, the spools that dead
    workers left behind.
    """

    def __init__(
        self,
        store: AuditStore,
        *,
        interval: float = 1.0,
        limit: int = 50_000,
        log_lines: bool = False,
        chunk: int = 500,
        spool: Spool | None = None,
        recover_interval: float = 30.0,
    ) -> None:
        self._store = store
        self._interval = interval
        self._limit = limit
        self._log_lines = log_lines
        self._chunk = chunk
        self._spool = spool
        self._recover_interval = recover_interval
        self._last = 0  # where the newest record ends in the spool segment _last_segment
        self._last_segment = ""
        self._pending: list[Pending] = []  # recorded since the last flush
        self._rows: list[Pending] = []  # logged, waiting to be inserted

    @property
    def spool(self) -> Spool | None:
        return self._spool

    def record(self, event: AuditEvent) -> None:
        """Serialise once: the JSON document, the row tuple, and the spool line around both."""
        at = event.at
        stamp = at.isoformat()
        document = orjson.dumps(event_document(event, stamp, granted_json(event.grants)))
        # A failed login has no subject: the attempted name stands in, so that
        # `audit list --user bob` finds the attempts on bob.
        subject = _column(event.subject or event.username)
        service = _column(event.service) or ""
        code = event.error_code or ""
        nothing = event.nothing_granted
        outcome, source, ip = event.outcome, event.source, event.client_ip
        values = (at, outcome, subject, source, service, ip, code, document.decode(), nothing)
        spool = self._spool
        if spool is None:
            self._pending.append((values, "", 0))
            return
        line = (stamp, outcome, subject, source, service, ip, code, orjson.Fragment(document))
        offset = self._last = spool.append(orjson.dumps((*line, nothing), option=_LINE))
        segment = self._last_segment = spool.segment
        self._pending.append((values, segment, offset))

    async def durable(self) -> None:
        """Return once every event recorded so far is on disk (at once without a spool)."""
        spool = self._spool
        if spool is not None and spool.waits and self._last:
            await spool.durable(self._last_segment, self._last)

    async def flush(self) -> None:
        """Log and insert what is buffered, in chunks that let requests through."""
        pending, self._pending = self._pending, []
        logging_on = self._log_lines and log.isEnabledFor(logging.INFO)
        for start in range(0, len(pending), self._chunk):
            chunk = pending[start : start + self._chunk]
            if logging_on:
                for values, _, _ in chunk:
                    log.info(values[DOCUMENT])
            self._rows.extend(chunk)
            await self._write()

    async def _write(self) -> None:
        if len(self._rows) > self._limit:
            del self._rows[: len(self._rows) - self._limit]
            log.error("audit buffer full: dropped the oldest events")
        rows, self._rows = self._rows, []
        if not rows:
            return
        _, segment, offset = rows[-1]  # the newest row ends furthest into the spool
        checkpoint = Position(segment, offset) if segment else None
        try:
            await self._store.add_values([values for values, _, _ in rows], checkpoint=checkpoint)
        except Exception as exc:
            reason = getattr(exc, "orig", None) or exc
            log.error("could not write %d audit events, will retry: %s", len(rows), reason)
            self._rows[:0] = rows
        else:
            if checkpoint is not None and self._spool is not None:
                self._spool.drained(segment, offset)
        await anyio.lowlevel.checkpoint()

    async def run(self) -> None:
        spool = self._spool
        async with anyio.create_task_group() as tasks:
            if spool is not None:
                tasks.start_soon(spool.run)
                tasks.start_soon(self._recover_now_and_then, spool)
            while True:
                await anyio.sleep(self._interval)
                if self._pending or self._rows:
                    await self.flush()

    async def _recover_now_and_then(self, spool: Spool) -> None:
        while True:
            try:
                await recover(spool.directory, self._store)
            except Exception as exc:  # the database may be away: try again later
                reason = getattr(exc, "orig", None) or exc
                log.error("could not recover audit spools, will retry: %s", reason)
            await anyio.sleep(self._recover_interval)

    async def close(self) -> None:
        """Final flush; the spool segment is deleted when all of it reached the database."""
        await self.flush()
        if self._spool is not None:
            self._spool.close()


def _column(value: str | None, size: int = 255) -> str | None:
    """Caller-supplied text as a column holds it: PostgreSQL refuses NUL characters and
    values longer than the column, and one refused row would fail its whole batch.
    (The JSON document keeps the value as given, escaped.)"""
    if value is None:
        return None
    return value.replace("\x00", "\ufffd")[:size]
