from __future__ import annotations

import logging

import orjson

from regauth.logs import JsonFormatter


def _record(name: str, msg: str) -> logging.LogRecord:
    return logging.LogRecord(name, logging.INFO, __file__, 1, msg, None, None)


def test_audit_lines_are_embedded_as_json() -> None:
    line = JsonFormatter().format(_record("regauth.audit", '{"outcome":"issued"}'))
    doc = orjson.loads(line)
    assert doc["audit"] == {"outcome": "issued"}
    assert doc["level"] == "info"


def test_plain_messages() -> None:
    doc = orjson.loads(JsonFormatter().format(_record("regauth", "hello")))
    assert doc["message"] == "hello"
    assert doc["logger"] == "regauth"
