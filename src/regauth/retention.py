"""Audit retention: events older than ``audit.retention_days`` are deleted in the background.

Every worker runs the pruner; deleting what is already gone is harmless, so
no coordination is needed. A failed prune is logged and retried next time.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import anyio

from regauth.ports import Clock
from regauth.store import AuditStore

log = logging.getLogger("regauth.audit")


class AuditRetention:
    def __init__(self, store: AuditStore, clock: Clock, *, days: int, interval: float) -> None:
        self._store = store
        self._clock = clock
        self._days = days
        self._interval = interval

    async def prune_once(self) -> int:
        """Delete the events older than the retention; return how many (0 when disabled)."""
        if self._days <= 0:
            return 0
        return await self._store.prune(self._clock.now() - timedelta(days=self._days))

    async def run(self) -> None:
        while self._days > 0:
            try:
                pruned = await self.prune_once()
            except Exception:
                log.exception("could not prune the audit log; will retry")
            else:
                if pruned:
                    log.info("pruned %d audit events older than %d days", pruned, self._days)
            await anyio.sleep(self._interval)
