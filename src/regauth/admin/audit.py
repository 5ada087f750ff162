"""Use cases on the audit log of token decisions: list, export, prune.

``user`` filters on the subject, which for a failed, throttled or expired
login is the username the caller presented (never the secret): the answer
to "who is failing to log in as bob". ``denied`` keeps the refused requests
and those where scopes were asked for and not one action was granted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

import orjson
from sqlalchemy import delete

from regauth.admin.actor import Actor, Permission
from regauth.admin.uow import Change, UnitOfWork
from regauth.admin.validation import require
from regauth.store import AuditRecord, AuditStore
from regauth.store.models_authz import AuditRow

EXPORT_PAGE = 1000


@dataclass(frozen=True, slots=True)
class AuditQuery:
    user: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    denied: bool = False
    limit: int = 50


@dataclass(frozen=True, slots=True)
class PruneAudit:
    before: datetime


@dataclass(frozen=True, slots=True)
class AuditView:
    id: int
    at: datetime
    outcome: str
    error_code: str
    subject: str | None  # the principal, or the attempted username of a failed login
    authenticated: bool  # False: subject is only the name the caller presented
    source: str | None
    client_ip: str | None
    service: str
    requested: tuple[str, ...]
    granted: tuple[str, ...]  # "resource:actions" of every requested resource
    nothing_granted: bool
    document: str  # the stored JSON document, as exported


async def list_events(uow: UnitOfWork, actor: Actor, query: AuditQuery) -> tuple[AuditView, ...]:
    """Newest first."""
    actor.require(Permission.AUDIT_READ)
    require({"limit": None if query.limit > 0 else "limit must be positive"})
    records = await AuditStore(uow.db).list(
        subject=query.user, since=query.since, denied=query.denied, limit=query.limit
    )
    return tuple(_view(r) for r in records if query.until is None or r.at < query.until)


async def export_events(
    uow: UnitOfWork, actor: Actor, query: AuditQuery
) -> AsyncIterator[AuditView]:
    """Oldest first, every matching event (paged, so any size of log streams)."""
    actor.require(Permission.AUDIT_READ)
    store, after = AuditStore(uow.db), 0
    while True:
        page = await store.page(
            after_id=after,
            subject=query.user,
            since=query.since,
            until=query.until,
            size=EXPORT_PAGE,
        )
        for record in page:
            if not query.denied or record.nothing_granted or record.outcome == "denied":
                yield _view(record)
        if len(page) < EXPORT_PAGE:
            return
        after = page[-1].id


async def prune_events(uow: UnitOfWork, actor: Actor, cmd: PruneAudit) -> int:
    """Delete the events older than ``before``; returns how many."""
    actor.require(Permission.AUDIT_WRITE)
    result = await uow.session.execute(delete(AuditRow).where(AuditRow.at < cmd.before))
    count = int(getattr(result, "rowcount", 0))
    after = {"before": cmd.before.isoformat(), "deleted": count}
    uow.record(Change(actor, "audit:prune", "audit_events", None, after))
    await uow.commit()
    return count


def _view(record: AuditRecord) -> AuditView:
    doc = orjson.loads(record.document)
    granted = tuple(
        f"{g['resource']}:{','.join(g['actions']) or '-'}" for g in doc.get("granted", ())
    )
    return AuditView(
        id=record.id,
        at=record.at,
        outcome=record.outcome,
        error_code=record.error_code,
        subject=record.subject,
        authenticated=doc.get("subject") is not None,
        source=record.source,
        client_ip=record.client_ip,
        service=record.service,
        requested=tuple(doc.get("requested", ())),
        granted=granted,
        nothing_granted=record.nothing_granted,
        document=record.document,
    )
