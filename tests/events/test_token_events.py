"""Token and login events ride the audit batch's transaction, for subscribed types only."""

from __future__ import annotations

from pathlib import Path

import anyio
import orjson
import pytest
from sqlalchemy import select

from regauth.events.runtime import audit_event_type
from regauth.store import Database
from regauth.store.models_authz import AuditRow
from regauth.store.models_events import EventRow
from tests.conftest import FrozenClock, Instance, make_instance
from tests.web.test_token_get import basic, get_token


def hook(events: str) -> str:
    return (
        '[events.webhook.siem]\nurl = "http://127.0.0.1:9/hook"\nsecret = "s"\n'
        f"events = [{events}]\n"
    )


def stored(inst: Instance) -> tuple[list[EventRow], list[AuditRow]]:
    async def main() -> tuple[list[EventRow], list[AuditRow]]:
        db = Database(inst.settings.database_url)
        try:
            async with db.session() as session:
                events = list((await session.scalars(select(EventRow))).all())
                audit = list((await session.scalars(select(AuditRow))).all())
                return events, audit
        finally:
            await db.dispose()

    return anyio.run(main)


def traffic(inst: Instance) -> None:
    with inst.client() as client:
        assert (
            get_token(client, "repository:alice/x:pull", auth=basic("alice", "pw")).status_code
            == 200
        )
        assert get_token(client, auth=basic("alice", "wrong")).status_code == 401
        assert get_token(client, "repository:x:pull", service="nope").status_code == 400
    # closing the client flushed the audit batch


def test_subscribed_token_events_are_written_with_the_audit_rows(
    tmp_path: Path, clock: FrozenClock
) -> None:
    inst = make_instance(tmp_path, clock, extra=hook('"token.*", "login.failed"'))
    inst.add_user("alice", "pw")
    traffic(inst)
    events, audit = stored(inst)
    assert len(audit) == 3
    assert sorted(e.type for e in events) == ["login.failed", "token.denied", "token.issued"]
    issued = next(orjson.loads(e.body) for e in events if e.type == "token.issued")
    assert issued["data"]["subject"] == "alice"
    assert "pw" not in issued["data"] and b"wrong" not in b"".join(e.body for e in events)


def test_without_a_subscription_nothing_is_written(tmp_path: Path, clock: FrozenClock) -> None:
    inst = make_instance(tmp_path, clock, extra=hook('"registry.*"'))
    inst.add_user("alice", "pw")
    traffic(inst)
    events, audit = stored(inst)
    assert len(audit) == 3 and events == []


@pytest.mark.parametrize(
    ("outcome", "code", "type"),
    [
        ("issued", "", "token.issued"),
        ("denied", "auth.invalid_credential", "login.failed"),
        ("denied", "auth.malformed_credential", "login.failed"),
        ("denied", "auth.throttled", "login.throttled"),
        ("denied", "auth.scope_denied", "token.denied"),
        ("denied", "request.unknown_service", "token.denied"),
        ("denied", "auth.backend_unavailable", "token.denied"),
    ],
)
def test_event_types_of_audit_rows(outcome: str, code: str, type: str) -> None:
    assert audit_event_type({"outcome": outcome, "error_code": code}) == type
