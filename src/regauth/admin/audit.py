"""Use cases on the audit log of token decisions: list, page, export, prune.

``user`` filters on the subject, which for a failed, throttled or expired
login is the username the caller presented (never the secret): the answer
to "who is failing to log in as bob". ``denied`` keeps the refused requests
and those where scopes were asked for and not one action was granted.

:func:`query_events` is :func:`list_events` with a cursor and the filters of
the admin API: oldest first, ``after`` is the id of the last event of the
previous page. Besides the user and the time range, it filters on the outcome
(``issued`` / ``denied``) and on a repository named in the request.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
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
SCAN_PAGE = 500
OUTCOMES = frozenset({"issued", "denied"})


@dataclass(frozen=True, slots=True)
class AuditQuery:
    user: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    denied: bool = False
    limit: int = 50


@dataclass(frozen=True, slots=True)
class AuditPageQuery:
    user: str | None = None
    outcome: str | None = None
    repository: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after: int = 0
    limit: int = 100


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


@dataclass(frozen=True, slots=True)
class AuditPage:
    items: tuple[AuditView, ...]
    next: int | None  # the ``after`` of the next page; None: nothing more (yet)


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
    scan = _scan(AuditStore(uow.db), 0, query.user, query.since, query.until, EXPORT_PAGE)
    async with aclosing(scan) as records:
        async for record in records:
            if not query.denied or record.nothing_granted or record.outcome == "denied":
                yield _view(record)


async def query_events(uow: UnitOfWork, actor: Actor, query: AuditPageQuery) -> AuditPage:
    """A page of ``limit`` events, oldest first, after the event ``query.after``."""
    actor.require(Permission.AUDIT_READ)
    require(
        {
            "limit": None if 1 <= query.limit <= 1000 else "limit is 1 to 1000",
            "outcome": None
            if query.outcome is None or query.outcome in OUTCOMES
            else "outcome is issued or denied",
        }
    )
    found: list[AuditView] = []
    scan = _scan(AuditStore(uow.db), query.after, query.user, query.since, query.until, SCAN_PAGE)
    async with aclosing(scan) as records:
        async for record in records:
            if _matches(record, query):
                found.append(_view(record))
                if len(found) > query.limit:
                    break
    items = tuple(found[: query.limit])
    return AuditPage(items, items[-1].id if len(found) > query.limit else None)


async def prune_events(uow: UnitOfWork, actor: Actor, cmd: PruneAudit) -> int:
    """Delete the events older than ``before``; returns how many."""
    actor.require(Permission.AUDIT_WRITE)
    result = await uow.session.execute(delete(AuditRow).where(AuditRow.at < cmd.before))
    count = int(getattr(result, "rowcount", 0))
    after = {"before": cmd.before.isoformat(), "deleted": count}
    uow.record(Change(actor, "audit:prune", "audit_events", None, after))
    await uow.commit()
    return count


async def _scan(
    store: AuditStore,
    after: int,
    user: str | None,
    since: datetime | None,
    until: datetime | None,
    size: int,
) -> AsyncGenerator[AuditRecord, None]:
    """Every matching record with an id above ``after``, oldest first, ``size`` a query."""
    while True:
        page = await store.page(after_id=after, subject=user, since=since, until=until, size=size)
        for record in page:
            yield record
        if len(page) < size:
            return
        after = page[-1].id


def _matches(record: AuditRecord, query: AuditPageQuery) -> bool:
    if query.outcome is not None and record.outcome != query.outcome:
        return False
    if query.repository is None:
        return True
    view = _view(record)
    wanted = f"repository:{query.repository}:"
    return any(scope.startswith(wanted) for scope in view.requested)


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
