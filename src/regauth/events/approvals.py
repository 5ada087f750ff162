"""Temporary access: requests, the signed approval callback, grants, expiry (seed 003).

``request()`` stores a request and emits ``access.requested`` (delivered to
the webhooks subscribed to it, typically the approval service). The service
answers ``POST /api/v1/webhooks/approval-response`` with
``{"request_id": N, "decision": "approve" | "deny", "approver": "…"}``,
authenticated only by an HMAC-SHA256 signature of the raw body with the
approval secret (:mod:`regauth.events.signature`). ``respond()`` verifies,
refuses a signature already accepted (remembered in the database, so every
worker and replica shares it), and decides the request in one transaction:
an approved request becomes a grant for ``duration`` seconds from approval.
Expiry, denial, approval and revocation emit ``access.*`` events.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from regauth.domain.grants import TemporaryGrant
from regauth.errors import (
    AccessConflict,
    AccessNotFound,
    CredentialInUrl,
    EventsError,
    SignatureReplayed,
)
from regauth.events.outbox import enqueue
from regauth.events.signature import Verified, verify
from regauth.ports import Clock, Random
from regauth.store import Database
from regauth.store.models_events import AccessRequestRow, CallbackSignatureRow

ACTIONS = frozenset({"pull", "push", "delete", "*"})
DECISIONS = {"approve": "approved", "approved": "approved", "deny": "denied", "denied": "denied"}


@dataclass(frozen=True, slots=True)
class AccessRequestView:
    id: int
    subject: str
    repository: str
    actions: tuple[str, ...]
    duration_seconds: int
    reason: str
    state: str  # requested | approved | denied | revoked | expired
    requested_at: datetime
    decided_at: datetime | None
    decided_by: str
    expires_at: datetime | None

    def document(self) -> dict[str, Any]:
        return {
            "request_id": self.id,
            "subject": self.subject,
            "repository": self.repository,
            "actions": list(self.actions),
            "duration_seconds": self.duration_seconds,
            "reason": self.reason,
            "state": self.state,
            "requested_at": self.requested_at.isoformat(),
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
            "decided_by": self.decided_by,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }


def _view(r: AccessRequestRow) -> AccessRequestView:
    return AccessRequestView(
        r.id,
        r.subject,
        r.repository,
        tuple(r.actions.split(",")),
        r.duration_seconds,
        r.reason,
        r.state,
        r.requested_at,
        r.decided_at,
        r.decided_by,
        r.expires_at,
    )


@dataclass(frozen=True, slots=True)
class Decision:
    request_id: int
    state: str  # approved | denied
    approver: str


def parse_decision(body: bytes) -> Decision:
    """The callback body: ``request_id`` (integer), ``decision``, optional ``approver``."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise EventsError("the callback body is not JSON") from None
    if not isinstance(data, dict):
        raise EventsError("the callback body must be a JSON object")
    rid, decision, approver = data.get("request_id"), data.get("decision"), data.get("approver")
    if isinstance(rid, str) and rid.isascii() and rid.isdigit() and len(rid) < 12:
        rid = int(rid)
    if not isinstance(rid, int) or isinstance(rid, bool) or not 0 < rid < 2**31:
        raise EventsError("request_id must be a positive integer")
    if not isinstance(decision, str) or decision.lower() not in DECISIONS:
        raise EventsError('decision must be "approve" or "deny"')
    if approver is not None and (not isinstance(approver, str) or not 0 < len(approver) <= 128):
        raise EventsError("approver must be a string of at most 128 characters")
    return Decision(rid, DECISIONS[decision.lower()], approver or "")


class Approvals:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        random: Random,
        *,
        service: str = "approval-service",
        secrets: tuple[bytes, ...] = (),
        tolerance: int = 300,
        max_duration: int = 7 * 86400,
        notify: Callable[[], None] = lambda: None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._random = random
        self._service = service
        self._secrets = secrets
        self._tolerance = tolerance
        self._max_duration = max_duration
        self._notify = notify

    async def request(
        self, subject: str, repository: str, actions: tuple[str, ...], duration: int, reason: str
    ) -> AccessRequestView:
        """Store a request and emit ``access.requested`` (both or neither)."""
        _check_request(subject, repository, actions, duration, reason, self._max_duration)
        async with self._db.session() as session, session.begin():
            view = await add_request(
                session,
                self._clock.now(),
                self._random.token_hex(16),
                subject,
                repository,
                actions,
                duration,
                reason,
            )
        self._notify()
        return view

    def authenticate(self, header: str | None, body: bytes, query: str) -> Verified:
        """Refuse credentials in the URL, then check the signature (no database yet)."""
        if query:
            raise CredentialInUrl(
                "this endpoint takes no query parameters; it is authenticated by its signature"
            )
        now = int(self._clock.now().timestamp())
        return verify(header, body, self._secrets, now, self._tolerance)

    async def respond(self, header: str | None, body: bytes, query: str = "") -> AccessRequestView:
        """The approval callback: verify, refuse replays, decide; one transaction."""
        verified = self.authenticate(header, body, query)
        decision = parse_decision(body)
        now = self._clock.now()
        expires = None
        if verified.timestamp is not None:  # past the window the timestamp check refuses it
            expires = datetime.fromtimestamp(verified.timestamp, now.tzinfo) + timedelta(
                seconds=self._tolerance
            )
        try:
            async with self._db.session() as session, session.begin():
                await session.execute(
                    insert(CallbackSignatureRow).values(key=verified.replay_key, expires_at=expires)
                )
                view = await self._decide(session, decision, now)
        except IntegrityError:
            raise SignatureReplayed("this signature was already accepted") from None
        self._notify()
        return view

    async def _decide(
        self, session: AsyncSession, decision: Decision, now: datetime
    ) -> AccessRequestView:
        return await decide(session, decision, now, self._random.token_hex(16), self._service)

    async def revoke(self, request_id: int) -> AccessRequestView:
        async with self._db.session() as session, session.begin():
            view = await revoke(session, request_id, self._clock.now(), self._random.token_hex(16))
        self._notify()
        return view

    async def expire(self, now: datetime) -> int:
        """Sweep: approved grants past their end become ``expired`` and emit ``access.expired``."""
        async with self._db.session() as session, session.begin():
            stmt = (
                update(AccessRequestRow)
                .where(AccessRequestRow.state == "approved", AccessRequestRow.expires_at <= now)
                .values(state="expired")
                .returning(AccessRequestRow)
            )
            rows = (await session.scalars(stmt)).all()
            for row in rows:
                await _emit(session, "access.expired", _view(row), now, self._random.token_hex(16))
            await session.execute(
                delete(CallbackSignatureRow).where(CallbackSignatureRow.expires_at < now)
            )
        return len(rows)

    async def list(
        self, *, subject: str | None = None, state: str | None = None, limit: int = 100
    ) -> builtins.list[AccessRequestView]:
        async with self._db.session() as session:
            return await list_requests(session, subject=subject, state=state, limit=limit)

    async def live(self, now: datetime) -> dict[str, tuple[TemporaryGrant, ...]]:
        """Every live grant by subject, for the token pipeline."""
        stmt = select(AccessRequestRow).where(
            AccessRequestRow.state == "approved", AccessRequestRow.expires_at > now
        )
        async with self._db.session() as session:
            rows = (await session.scalars(stmt)).all()
        found: dict[str, list[TemporaryGrant]] = {}
        for row in rows:
            found.setdefault(row.subject, []).append(grant(_view(row)))
        return {subject: tuple(items) for subject, items in found.items()}


# The changes themselves, inside the caller's transaction: the callback above and the
# administration layer (regauth.admin.access_requests) both call these.


async def _emit(
    session: AsyncSession, type: str, view: AccessRequestView, at: datetime, event_id: str
) -> None:
    await enqueue(session, type, view.document(), at=at, event_id=event_id)


async def add_request(
    session: AsyncSession,
    now: datetime,
    event_id: str,
    subject: str,
    repository: str,
    actions: tuple[str, ...],
    duration: int,
    reason: str,
) -> AccessRequestView:
    """Store a (validated) request and its ``access.requested`` event."""
    row = AccessRequestRow(
        subject=subject,
        repository=repository,
        actions=",".join(actions),
        duration_seconds=duration,
        reason=reason,
        state="requested",
        requested_at=now,
        decided_at=None,
        decided_by="",
        expires_at=None,
    )
    session.add(row)
    await session.flush()
    view = _view(row)
    await _emit(session, "access.requested", view, now, event_id)
    return view


async def get_request(session: AsyncSession, request_id: int) -> AccessRequestView | None:
    row = await session.get(AccessRequestRow, request_id)
    return _view(row) if row is not None else None


async def decide(
    session: AsyncSession, decision: Decision, now: datetime, event_id: str, service: str
) -> AccessRequestView:
    """Approve (a grant for ``duration`` seconds from now) or deny a pending request."""
    row = await session.get(AccessRequestRow, decision.request_id, with_for_update=True)
    if row is None:
        raise AccessNotFound(f"no access request #{decision.request_id}")
    if row.state != "requested":
        raise AccessConflict(f"access request #{row.id} is already {row.state}")
    row.state = decision.state
    row.decided_at = now
    row.decided_by = decision.approver or service
    if decision.state == "approved":
        row.expires_at = now + timedelta(seconds=row.duration_seconds)
    await session.flush()
    view = _view(row)
    await _emit(session, f"access.{decision.state}", view, now, event_id)
    return view


async def revoke(
    session: AsyncSession, request_id: int, now: datetime, event_id: str
) -> AccessRequestView:
    """End a pending request or a live grant now."""
    row = await session.get(AccessRequestRow, request_id, with_for_update=True)
    if row is None:
        raise AccessNotFound(f"no access request #{request_id}")
    if row.state not in ("requested", "approved") or (
        row.expires_at is not None and row.expires_at <= now
    ):
        state = "expired" if row.state == "approved" else row.state
        raise AccessConflict(f"access request #{row.id} is already {state}")
    row.state, row.decided_at = "revoked", row.decided_at or now
    row.expires_at = min(row.expires_at, now) if row.expires_at else None
    await session.flush()
    view = _view(row)
    await _emit(session, "access.revoked", view, now, event_id)
    return view


async def list_requests(
    session: AsyncSession, *, subject: str | None = None, state: str | None = None, limit: int = 100
) -> list[AccessRequestView]:
    """Newest first."""
    stmt = select(AccessRequestRow).order_by(AccessRequestRow.id.desc()).limit(limit)
    if subject is not None:
        stmt = stmt.where(AccessRequestRow.subject == subject)
    if state is not None:
        stmt = stmt.where(AccessRequestRow.state == state)
    return [_view(r) for r in (await session.scalars(stmt)).all()]


def grant(view: AccessRequestView) -> TemporaryGrant:
    assert view.expires_at is not None
    return TemporaryGrant(
        id=view.id,
        repository=view.repository,
        actions=view.actions,
        approved_by=view.decided_by,
        expires_at=int(view.expires_at.timestamp()),
        until=view.expires_at.isoformat(timespec="seconds"),
    )


def _check_request(
    subject: str,
    repository: str,
    actions: tuple[str, ...],
    duration: int,
    reason: str,
    max_duration: int,
) -> None:
    if not subject or len(subject) > 255:
        raise EventsError("the subject must be a user name")
    if not repository or len(repository) > 255 or "*" in repository:
        raise EventsError("the repository must be one repository name (no wildcards)")
    if not actions or not set(actions) <= ACTIONS:
        raise EventsError("actions must be among pull, push, delete, *")
    if not 1 <= duration <= max_duration:
        raise EventsError(f"the duration must be between 1 and {max_duration} seconds")
    if len(reason) > 1024:
        raise EventsError("the reason is longer than 1024 characters")
