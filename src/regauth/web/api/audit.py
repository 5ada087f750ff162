"""``/api/v1/audit`` (token decisions, a page at a time, or all as JSON lines) and ``/check``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import Field

from regauth.admin import Permission
from regauth.admin import audit as uc
from regauth.admin import check as checks
from regauth.domain.policy import Grant
from regauth.domain.scope import parse_scopes
from regauth.web.api.dispatch import Call
from regauth.web.api.models import In, Name, Out, Query
from regauth.web.api.table import Operation, Raw

JSON_LINES = "application/jsonl"


class AuditQueryIn(Query):
    user: str | None = Field(default=None, max_length=256, description="also attempted names")
    outcome: Literal["issued", "denied"] | None = None
    repository: str | None = Field(default=None, max_length=512, description="named in a scope")
    since: datetime | None = None
    until: datetime | None = None
    cursor: int = Field(default=0, ge=0, le=2**62, description="`next` of the previous page")
    limit: int = Field(default=100, ge=1, le=1000)


class ExportQuery(Query):
    user: str | None = Field(default=None, max_length=256)
    since: datetime | None = None
    until: datetime | None = None
    denied: bool = False


class AuditOut(Out):
    id: int
    at: datetime
    outcome: str
    error_code: str
    subject: str | None
    authenticated: bool = Field(description="false: `subject` is the name a failed login gave")
    source: str | None
    client_ip: str | None
    service: str
    requested: list[str]
    granted: list[str]
    nothing_granted: bool
    trace: list[dict[str, Any]] = Field(description="per requested resource: stage decisions")


class AuditPageOut(Out):
    items: list[AuditOut]
    next: int | None = Field(description="pass as `cursor` for the next page; null: no more yet")


class CheckIn(In):
    user: Name | None = Field(default=None, description="null: the anonymous caller")
    token_id: str | None = Field(default=None, max_length=64, description="decide as this PAT")
    scopes: list[str] = Field(min_length=1, max_length=32, description="e.g. repository:a/b:pull")
    service: str = Field(max_length=256)
    client_ip: str | None = Field(default=None, max_length=64)
    webhooks: bool = Field(default=True, description="false: do not call authorization webhooks")


class StepOut(Out):
    stage: str
    actions: list[str]
    reason: str


class GrantOut(Out):
    resource: str
    requested: list[str]
    granted: list[str]
    trace: list[StepOut]


class CheckOut(Out):
    subject: str
    source: str
    groups: list[str]
    grants: list[GrantOut]
    notes: list[str]


def _audit(view: uc.AuditView) -> AuditOut:
    document = orjson.loads(view.document)
    return AuditOut(
        id=view.id,
        at=view.at,
        outcome=view.outcome,
        error_code=view.error_code,
        subject=view.subject,
        authenticated=view.authenticated,
        source=view.source,
        client_ip=view.client_ip,
        service=view.service,
        requested=list(view.requested),
        granted=list(view.granted),
        nothing_granted=view.nothing_granted,
        trace=list(document.get("granted", ())),
    )


async def list_audit(call: Call) -> AuditPageOut:
    q = call.query(AuditQueryIn)
    await call.state.runtime.audit.flush()  # this process's buffered decisions count too
    query = uc.AuditPageQuery(
        q.user, q.outcome, q.repository, q.since, q.until, after=q.cursor, limit=q.limit
    )
    async with call.uow() as uow:
        page = await uc.query_events(uow, call.actor, query)
    return AuditPageOut(items=[_audit(v) for v in page.items], next=page.next)


async def export_audit(call: Call) -> Raw:
    q = call.query(ExportQuery)
    await call.state.runtime.audit.flush()
    query = uc.AuditQuery(user=q.user, since=q.since, until=q.until, denied=q.denied)
    lines: list[bytes] = []
    async with call.uow() as uow:
        async for view in uc.export_events(uow, call.actor, query):
            lines.append(view.document.encode() + b"\n")
    return Raw(b"".join(lines), JSON_LINES, "audit.jsonl")


def _grant(grant: Grant) -> GrantOut:
    return GrantOut(
        resource=str(grant.requested.resource),
        requested=list(grant.requested.actions),
        granted=list(grant.actions),
        trace=[
            StepOut(stage=d.stage, actions=list(d.actions), reason=d.reason) for d in grant.trace
        ],
    )


async def check(call: Call) -> CheckOut:
    body = call.body(CheckIn)
    cmd = checks.CheckAccess(
        scopes=parse_scopes(body.scopes),
        service=body.service,
        user=body.user,
        token_id=body.token_id,
        client_ip=body.client_ip,
        webhooks=body.webhooks,
    )
    async with call.uow() as uow:
        view = await checks.check_access(uow, call.actor, cmd, call.state.runtime.decider)
    p = view.principal
    return CheckOut(
        subject=p.subject,
        source=p.source,
        groups=sorted(p.groups),
        grants=[_grant(g) for g in view.grants],
        notes=list(view.notes),
    )


OPERATIONS = (
    Operation(
        "GET", "/audit", "listAudit", "Token decisions, oldest first, a page at a time", "audit",
        list_audit, Permission.AUDIT_READ, query=AuditQueryIn, out=AuditPageOut,
    ),
    Operation(
        "GET", "/audit/export", "exportAudit", "Every matching token decision as JSON lines",
        "audit", export_audit, Permission.AUDIT_READ, query=ExportQuery, raw=JSON_LINES,
    ),
    Operation(
        "POST", "/check", "checkAccess",
        "The decision, stage by stage, for a caller and scopes (as regauth check)", "check",
        check, Permission.CHECK, body=CheckIn, out=CheckOut,
        description="Decides with the server's own inputs: stored attributes, memberships, "
        "the token's rules, revocation and expiry, the client address and service.",
    ),
)  # fmt: skip
