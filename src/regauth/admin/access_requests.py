"""Use cases on temporary access: request, list, approve or deny, revoke; registry events.

A request asks for ``actions`` on one repository for ``duration_seconds``,
with a reason for the approver. It is decided either by the approval
service through the signed callback (:mod:`regauth.events.approvals`) or by
an administrator here (:func:`decide_access_request`); an approved request
is a grant from the moment of approval until ``expires_at``, which the
token endpoint adds to the caller's rules. Every change emits its
``access.*`` event and is recorded as an administrative change.

A local (or OIDC) account may request access for itself, list its own
requests and withdraw them; anything about another account needs
``access:read`` / ``access:write``. :func:`list_registry_events` shows what
the registry notified about one repository (pushes, pulls, deletes), for
``audit:read``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select

from regauth.admin.actor import Actor, Permission
from regauth.admin.uow import Change, UnitOfWork
from regauth.admin.validation import require
from regauth.config.events import ApprovalSettings
from regauth.errors import AccessNotFound, AdminConflict
from regauth.events import approvals
from regauth.events.approvals import ACTIONS, AccessRequestView, Decision
from regauth.store.models_events import RegistryEventRow

STATES = ("requested", "approved", "denied", "revoked", "expired")
MAX_REASON = 1024
MAX_REPOSITORY = 255


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """``[events.approval]`` as the use cases need it."""

    enabled: bool = False
    max_duration: int = 7 * 86400
    service: str = "approval-service"

    @classmethod
    def of(cls, approval: ApprovalSettings) -> AccessPolicy:
        return cls(approval.enabled, approval.max_duration, approval.service)


@dataclass(frozen=True, slots=True)
class RequestAccess:
    user: str
    repository: str
    actions: tuple[str, ...]
    duration_seconds: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ListAccessRequests:
    user: str | None = None  # None: everyone's (needs access:read)
    state: str | None = None
    limit: int = 50


@dataclass(frozen=True, slots=True)
class DecideAccessRequest:
    request_id: int
    decision: str  # approve | deny


@dataclass(frozen=True, slots=True)
class AccessRequestId:
    request_id: int
    user: str | None = None  # given: only a request of this user is found ("my requests")


@dataclass(frozen=True, slots=True)
class RegistryEventsQuery:
    repository: str
    limit: int = 50


@dataclass(frozen=True, slots=True)
class RegistryEventView:
    id: str
    action: str
    at: datetime
    repository: str
    tag: str
    digest: str
    actor: str
    source_addr: str


async def request_access(
    uow: UnitOfWork, actor: Actor, cmd: RequestAccess, policy: AccessPolicy
) -> AccessRequestView:
    _authorize(actor, cmd.user, Permission.ACCESS_WRITE)
    if not policy.enabled:
        raise AdminConflict(
            "temporary access is off: enable the approval callback "
            "([events.approval] enabled = true)"
        )
    require(_problems(cmd, policy.max_duration))
    view = await approvals.add_request(
        uow.session,
        uow.clock.now(),
        uow.event_id(),
        cmd.user,
        cmd.repository,
        cmd.actions,
        cmd.duration_seconds,
        cmd.reason,
    )
    uow.record(Change(actor, "access:request", f"#{view.id}", None, view.document()))
    await uow.commit()
    return view


async def list_access_requests(
    uow: UnitOfWork, actor: Actor, cmd: ListAccessRequests
) -> tuple[AccessRequestView, ...]:
    """Newest first; a grant past its end shows as ``expired`` even before the sweep runs."""
    if cmd.user is None:
        actor.require(Permission.ACCESS_READ)
    else:
        _authorize(actor, cmd.user, Permission.ACCESS_READ)
    require(
        {
            "user": _user_problem(cmd.user) if cmd.user is not None else None,
            "state": None
            if cmd.state is None or cmd.state in STATES
            else f"one of {', '.join(STATES)}",
            "limit": None if 1 <= cmd.limit <= 1000 else "limit is 1 to 1000",
        }
    )
    now = uow.clock.now()
    state = "approved" if cmd.state == "expired" else cmd.state  # and the unswept ones
    found = await approvals.list_requests(
        uow.session, subject=cmd.user, state=state, limit=cmd.limit
    )
    if cmd.state == "expired":
        more = await approvals.list_requests(
            uow.session, subject=cmd.user, state="expired", limit=cmd.limit
        )
        found = sorted(found + more, key=lambda v: v.id, reverse=True)
    views = tuple(current(v, now) for v in found)
    if cmd.state is not None:
        views = tuple(v for v in views if v.state == cmd.state)[: cmd.limit]
    return views


async def decide_access_request(
    uow: UnitOfWork, actor: Actor, cmd: DecideAccessRequest
) -> AccessRequestView:
    """An administrator approves or denies a pending request (the approver is the actor)."""
    actor.require(Permission.ACCESS_WRITE)
    states = {"approve": "approved", "deny": "denied"}
    require({"decision": None if cmd.decision in states else 'decision is "approve" or "deny"'})
    require({"request_id": _id_problem(cmd.request_id)})
    before = await _get(uow, cmd.request_id)
    decision = Decision(cmd.request_id, states[cmd.decision], actor.name)
    view = await approvals.decide(
        uow.session, decision, uow.clock.now(), uow.event_id(), actor.name
    )
    kind = f"access:{cmd.decision}"
    uow.record(Change(actor, kind, f"#{view.id}", before.document(), view.document()))
    await uow.commit()
    return view


async def revoke_access_request(
    uow: UnitOfWork, actor: Actor, cmd: AccessRequestId
) -> AccessRequestView:
    """End a pending request or a live grant now; the requester may withdraw their own."""
    require({"request_id": _id_problem(cmd.request_id)})
    found = await approvals.get_request(uow.session, cmd.request_id)
    if cmd.user is not None and (found is None or found.subject != cmd.user):
        raise AccessNotFound(f"no access request #{cmd.request_id} of {cmd.user}")
    if not actor.holds(Permission.ACCESS_WRITE) and (
        found is None or not _own(actor, found.subject)
    ):
        actor.require(Permission.ACCESS_WRITE)  # the same answer whether it exists or not
    before = await _get(uow, cmd.request_id)
    view = await approvals.revoke(uow.session, cmd.request_id, uow.clock.now(), uow.event_id())
    uow.record(Change(actor, "access:revoke", f"#{view.id}", before.document(), view.document()))
    await uow.commit()
    return view


async def list_registry_events(
    uow: UnitOfWork, actor: Actor, query: RegistryEventsQuery
) -> tuple[RegistryEventView, ...]:
    """The registry's notifications about one repository, newest first."""
    actor.require(Permission.AUDIT_READ)
    require(
        {
            "repository": _repository_problem(query.repository, wildcards=True),
            "limit": None if 1 <= query.limit <= 1000 else "limit is 1 to 1000",
        }
    )
    stmt = (
        select(RegistryEventRow)
        .where(RegistryEventRow.repository == query.repository)
        .order_by(RegistryEventRow.at.desc(), RegistryEventRow.id)
        .limit(query.limit)
    )
    rows = (await uow.session.scalars(stmt)).all()
    return tuple(
        RegistryEventView(
            r.id, r.action, r.at, r.repository, r.tag, r.digest, r.actor, r.source_addr
        )
        for r in rows
    )


def current(view: AccessRequestView, now: datetime) -> AccessRequestView:
    """The state as of ``now``: an approved grant past its end is expired."""
    if view.state == "approved" and view.expires_at is not None and view.expires_at <= now:
        return replace(view, state="expired")
    return view


def _own(actor: Actor, user: str) -> bool:
    return actor.kind in ("user", "oidc") and actor.name == user


def _authorize(actor: Actor, user: str, permission: Permission) -> None:
    """Anyone's with ``permission``; a signed-in account's own without."""
    if not _own(actor, user):
        actor.require(permission)


async def _get(uow: UnitOfWork, request_id: int) -> AccessRequestView:
    found = await approvals.get_request(uow.session, request_id)
    if found is None:
        raise AccessNotFound(f"no access request #{request_id}")
    return current(found, uow.clock.now())


def _reason_problem(reason: str) -> str | None:
    if len(reason) > MAX_REASON:
        return f"the reason is longer than {MAX_REASON} characters"
    if not all(c.isprintable() or c in "\n\t" for c in reason.replace("\r\n", "\n")):
        return "the reason is text (no control characters)"
    return None


def _user_problem(user: str) -> str | None:
    """A local name, or the subject an identity provider gave (not only our name grammar)."""
    if not user or len(user) > MAX_REPOSITORY or not user.isprintable():
        return "the user must be a user name"
    return None


def _id_problem(request_id: int) -> str | None:
    return None if 0 < request_id < 2**31 else "a request id is a positive integer"


def _repository_problem(repository: str, *, wildcards: bool = False) -> str | None:
    if not repository or len(repository) > MAX_REPOSITORY or not repository.isprintable():
        return "the repository must be one repository name"
    if not wildcards and "*" in repository:
        return "the repository must be one repository name (no wildcards)"
    if repository != repository.strip() or " " in repository:
        return "a repository name has no spaces"
    return None


def _problems(cmd: RequestAccess, max_duration: int) -> dict[str, str | None]:
    problems: dict[str, str | None] = {
        "user": _user_problem(cmd.user),
        "repository": _repository_problem(cmd.repository),
        "actions": None
        if cmd.actions and set(cmd.actions) <= ACTIONS
        else "actions must be among pull, push, delete, *",
        "duration_seconds": None
        if 1 <= cmd.duration_seconds <= max_duration
        else f"the duration must be between 1 and {max_duration} seconds",
        "reason": _reason_problem(cmd.reason),
    }
    return problems
