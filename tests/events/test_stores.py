"""Registry events and approvals in the database, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select

from regauth.errors import AccessConflict, SignatureReplayed
from regauth.events.approvals import Approvals
from regauth.events.registry import RegistryEvents, parse_envelope
from regauth.ports import SystemRandom
from regauth.store import Database
from regauth.store.models_authz import AuditRow
from regauth.store.models_events import EventRow, RegistryEventRow
from tests.conftest import FrozenClock

pytestmark = pytest.mark.anyio
SAMPLE = Path(__file__).with_name("registry-push-event.json").read_bytes()
SECRET = b"approval-secret"


async def count(db: Database, model: type) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_notification_is_stored_once(db: Database, clock: FrozenClock) -> None:
    events = RegistryEvents(db, SystemRandom())
    (event,) = parse_envelope(SAMPLE)
    assert await events.record((event, event), clock.now()) == (event,)
    assert await events.record((event,), clock.now()) == ()
    for model in (RegistryEventRow, AuditRow, EventRow):
        assert await count(db, model) == 1


def signed(request_id: int, decision: str = "approve") -> tuple[str, bytes]:
    body = orjson.dumps({"request_id": request_id, "decision": decision})
    return hmac.new(SECRET, body, hashlib.sha256).hexdigest(), body


async def test_approve_replay_expire(db: Database, clock: FrozenClock) -> None:
    approvals = Approvals(db, clock, SystemRandom(), service="board", secrets=(SECRET,))
    view = await approvals.request("alice", "team/secret", ("push",), 3600, "why")
    header, body = signed(view.id)
    approved = await approvals.respond(header, body)
    assert (approved.state, approved.decided_by) == ("approved", "board")
    with pytest.raises(SignatureReplayed):
        await approvals.respond(header, body)
    live = await approvals.live(clock.now())
    assert [g.label for g in live["alice"]] == [
        f"temporary grant #{view.id}, approved by board until 2026-11-23T13:00:00+00:00"
    ]
    clock.advance(seconds=3600)
    assert await approvals.live(clock.now()) == {}
    assert await approvals.expire(clock.now()) == 1
    assert await approvals.expire(clock.now()) == 0
    with pytest.raises(AccessConflict):
        await approvals.revoke(view.id)
    types = []
    async with db.session() as session:
        types = sorted((await session.scalars(select(EventRow.type))).all())
    assert types == ["access.approved", "access.expired", "access.requested"]


async def test_a_revoked_grant_ends_now(db: Database, clock: FrozenClock) -> None:
    approvals = Approvals(db, clock, SystemRandom(), secrets=(SECRET,))
    view = await approvals.request("alice", "team/secret", ("push",), 3600, "")
    await approvals.respond(*signed(view.id))
    clock.advance(seconds=10)
    revoked = await approvals.revoke(view.id)
    assert revoked.state == "revoked" and revoked.expires_at == clock.now()
    assert await approvals.live(clock.now() - timedelta(seconds=1)) == {}
