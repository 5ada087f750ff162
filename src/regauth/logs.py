"""Structured logs: one JSON object per line on stderr (SPEC §7).

Audit records (``regauth.audit``) are already JSON documents and are embedded
as the ``audit`` field rather than as an escaped string. Nothing logged here
may contain a secret: callers log ids and names, never credentials.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime

import orjson


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        message = record.getMessage()
        if record.name == "regauth.audit" and message.startswith("{"):
            doc["audit"] = orjson.Fragment(message)
        else:
            doc["message"] = message
        if record.exc_info and record.exc_info[0] is not None:
            doc["exception"] = record.exc_info[0].__name__
        return orjson.dumps(doc).decode()


def configure(level: str = "info") -> None:
    """Route every ``regauth.*`` logger to stderr as JSON lines (idempotent)."""
    root = logging.getLogger("regauth")
    root.setLevel(level.upper())
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    root.propagate = False
