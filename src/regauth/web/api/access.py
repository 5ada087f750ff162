"""``/api/v1/access-requests`` (temporary access), ``/me/access-requests`` and
``/registry-events`` (what the registry notified about a repository)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from regauth.admin import Permission
from regauth.admin import access_requests as uc
from regauth.events.approvals import AccessRequestView
from regauth.web.api.dispatch import Call
from regauth.web.api.models import In, Out, Params, Query
from regauth.web.api.table import Link, Operation

Action = Literal["pull", "push", "delete", "*"]
State = Literal["requested", "approved", "denied", "revoked", "expired"]
Repository = Field(min_length=1, max_length=255, description="one repository, e.g. team/app")


class MyAccessIn(In):
    repository: str = Repository
    actions: list[Action] = Field(min_length=1, max_length=4)
    duration_seconds: int = Field(ge=1, le=10 * 365 * 86400, description="from the approval on")
    reason: str = Field(default="", max_length=1024, description="shown to the approver")


class AccessIn(MyAccessIn):
    user: str = Field(min_length=1, max_length=255, description="who gets the access")


class AccessOut(Out):
    id: int
    user: str
    repository: str
    actions: list[str]
    duration_seconds: int
    reason: str
    state: State
    requested_at: datetime
    decided_at: datetime | None
    decided_by: str = Field(description="the approver; empty while pending")
    expires_at: datetime | None = Field(description="the end of an approved grant")


class AccessList(Out):
    items: list[AccessOut]


class AccessQuery(Query):
    user: str | None = Field(default=None, min_length=1, max_length=255)
    state: State | None = None
    limit: int = Field(default=50, ge=1, le=1000)


class MyAccessQuery(Query):
    state: State | None = None
    limit: int = Field(default=50, ge=1, le=1000)


class RequestPath(Params):
    request_id: int = Field(ge=1, lt=2**31)


class DecisionIn(In):
    decision: Literal["approve", "deny"]


class RegistryEventsQueryIn(Query):
    repository: str = Repository
    limit: int = Field(default=50, ge=1, le=1000)


class RegistryEventOut(Out):
    id: str
    action: str
    at: datetime
    repository: str
    tag: str
    digest: str
    actor: str
    source_addr: str


class RegistryEventList(Out):
    items: list[RegistryEventOut]


def _out(view: AccessRequestView) -> AccessOut:
    return AccessOut(
        id=view.id,
        user=view.subject,
        repository=view.repository,
        actions=list(view.actions),
        duration_seconds=view.duration_seconds,
        reason=view.reason,
        state=view.state,  # type: ignore[arg-type]
        requested_at=view.requested_at,
        decided_at=view.decided_at,
        decided_by=view.decided_by,
        expires_at=view.expires_at,
    )


def _nudge(call: Call) -> None:
    """Deliver the ``access.*`` event now rather than at the next poll."""
    events = call.state.runtime.events
    if events is not None:
        events.worker.nudge()


async def _request(call: Call, user: str, body: MyAccessIn) -> AccessOut:
    cmd = uc.RequestAccess(
        user, body.repository, tuple(body.actions), body.duration_seconds, body.reason
    )
    policy = uc.AccessPolicy.of(call.state.runtime.settings.events.approval)
    async with call.uow() as uow:
        view = await uc.request_access(uow, call.actor, cmd, policy)
    _nudge(call)
    return _out(view)


async def _list(call: Call, user: str | None, state: str | None, limit: int) -> AccessList:
    async with call.uow() as uow:
        views = await uc.list_access_requests(
            uow, call.actor, uc.ListAccessRequests(user, state, limit)
        )
    return AccessList(items=[_out(v) for v in views])


async def list_requests(call: Call) -> AccessList:
    q = call.query(AccessQuery)
    return await _list(call, q.user, q.state, q.limit)


async def request_access(call: Call) -> AccessOut:
    body = call.body(AccessIn)
    return await _request(call, body.user, body)


async def decide(call: Call) -> AccessOut:
    cmd = uc.DecideAccessRequest(
        call.params(RequestPath).request_id, call.body(DecisionIn).decision
    )
    async with call.uow() as uow:
        view = await uc.decide_access_request(uow, call.actor, cmd)
    _nudge(call)
    return _out(view)


async def revoke(call: Call) -> AccessOut:
    cmd = uc.AccessRequestId(call.params(RequestPath).request_id)
    async with call.uow() as uow:
        view = await uc.revoke_access_request(uow, call.actor, cmd)
    _nudge(call)
    return _out(view)


async def revoke_mine(call: Call) -> AccessOut:
    cmd = uc.AccessRequestId(call.params(RequestPath).request_id, call.actor.name)
    async with call.uow() as uow:
        view = await uc.revoke_access_request(uow, call.actor, cmd)
    _nudge(call)
    return _out(view)


async def my_requests(call: Call) -> AccessList:
    q = call.query(MyAccessQuery)
    return await _list(call, call.actor.name, q.state, q.limit)


async def request_my_access(call: Call) -> AccessOut:
    return await _request(call, call.actor.name, call.body(MyAccessIn))


async def registry_events(call: Call) -> RegistryEventList:
    q = call.query(RegistryEventsQueryIn)
    async with call.uow() as uow:
        views = await uc.list_registry_events(
            uow, call.actor, uc.RegistryEventsQuery(q.repository, q.limit)
        )
    return RegistryEventList(items=[RegistryEventOut.model_validate(v) for v in views])


_ID = {"request_id": "$response.body#/id"}
_LINKS = {"decide": Link("decideAccessRequest", _ID), "revoke": Link("revokeAccessRequest", _ID)}
W, R = Permission.ACCESS_WRITE, Permission.ACCESS_READ

OPERATIONS = (
    Operation(
        "GET", "/access-requests", "listAccessRequests",
        "Temporary access requests, newest first", "access",
        list_requests, R, query=AccessQuery, out=AccessList,
    ),
    Operation(
        "POST", "/access-requests", "requestAccess",
        "Request temporary access for a user (needs [events.approval] enabled)", "access",
        request_access, W, body=AccessIn, out=AccessOut, status=201, links=_LINKS,
    ),
    Operation(
        "POST", "/access-requests/{request_id}/decision", "decideAccessRequest",
        "Approve (a grant from now for its duration) or deny a pending request", "access",
        decide, W, params=RequestPath, body=DecisionIn, out=AccessOut,
    ),
    Operation(
        "POST", "/access-requests/{request_id}/revoke", "revokeAccessRequest",
        "End a pending request or a live grant now", "access",
        revoke, W, params=RequestPath, out=AccessOut,
    ),
    Operation(
        "GET", "/me/access-requests", "listMyAccessRequests", "My temporary access requests",
        "me", my_requests, None, query=MyAccessQuery, out=AccessList,
    ),
    Operation(
        "POST", "/me/access-requests", "requestMyAccess",
        "Request temporary access for myself", "me",
        request_my_access, None, body=MyAccessIn, out=AccessOut, status=201,
        links={"revoke": Link("revokeMyAccessRequest", _ID)},
    ),
    Operation(
        "POST", "/me/access-requests/{request_id}/revoke", "revokeMyAccessRequest",
        "Withdraw my request, or end my grant now", "me",
        revoke_mine, None, params=RequestPath, out=AccessOut,
    ),
    Operation(
        "GET", "/registry-events", "listRegistryEvents",
        "What the registry notified about one repository, newest first", "audit",
        registry_events, Permission.AUDIT_READ, query=RegistryEventsQueryIn,
        out=RegistryEventList,
    ),
)  # fmt: skip
