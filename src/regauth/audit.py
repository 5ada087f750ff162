"""Audit records for token decisions (SPEC §7): who, from where, requested, granted, why.

The log sink writes one JSON object per decision to the ``regauth.audit``
logger. Secrets are never part of an event.
"""

from __future__ import annotations

import logging

import orjson

from regauth.service import AuditEvent

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
