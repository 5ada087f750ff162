"""Paging through the audit log of token decisions, with the filters of the admin API.

:func:`query_events` is :func:`regauth.admin.audit.list_events` with a cursor:
oldest first, ``after`` is the id of the last event of the previous page.
Besides the user (for failed logins: the username presented) and the time
range, it filters on the outcome (``issued`` / ``denied``) and on a
repository named in the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from regauth.admin.actor import Actor, Permission
from regauth.admin.audit import AuditView, _view
from regauth.admin.uow import UnitOfWork
from regauth.admin.validation import require
from regauth.store import AuditRecord, AuditStore

OUTCOMES = frozenset({"issued", "denied"})
SCAN_PAGE = 500


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
class AuditPage:
    items: tuple[AuditView, ...]
    next: int | None  # the ``after`` of the next page; None: nothing more (yet)


async def query_events(uow: UnitOfWork, actor: Actor, query: AuditPageQuery) -> AuditPage:
    actor.require(Permission.AUDIT_READ)
    require(
        {
            "limit": None if 1 <= query.limit <= 1000 else "limit is 1 to 1000",
            "outcome": None
            if query.outcome is None or query.outcome in OUTCOMES
            else "outcome is issued or denied",
        }
    )
    store, after, found = AuditStore(uow.db), query.after, list[AuditView]()
    while len(found) <= query.limit:
        page = await store.page(
            after_id=after, subject=query.user, since=query.since, until=query.until, size=SCAN_PAGE
        )
        found += [_view(r) for r in page if _matches(r, query)]
        if len(page) < SCAN_PAGE:
            break
        after = page[-1].id
    items = tuple(found[: query.limit])
    return AuditPage(items, items[-1].id if len(found) > query.limit else None)


def _matches(record: AuditRecord, query: AuditPageQuery) -> bool:
    if query.outcome is not None and record.outcome != query.outcome:
        return False
    if query.repository is None:
        return True
    view = _view(record)
    wanted = f"repository:{query.repository}:"
    return any(scope.startswith(wanted) for scope in view.requested)
