"""Admin → Audit: token decisions, filtered by user, outcome, repository and time, each
with its decision trace (``regauth.admin.audit``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

from regauth.admin.audit import AuditQuery, AuditView, list_events
from regauth.errors import AdminInvalid
from regauth.web.ui.render import page
from regauth.web.ui.visit import Visit, unit_of_work

LIMIT = 100
# A repository filter looks at more events than it shows, within this bound.
SCAN = 2000


def _time(value: str, field: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise AdminInvalid({field: "use a date and time such as 2026-11-23T12:00"}) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _trace(view: AuditView) -> list[dict[str, object]]:
    try:
        document = json.loads(view.document)
    except ValueError:
        return []
    granted = document.get("granted") if isinstance(document, dict) else None
    return [g for g in granted if isinstance(g, dict)] if isinstance(granted, list) else []


async def audit(request: Request, visit: Visit) -> Response:
    params = request.query_params
    form = {
        k: params.get(k, "").strip() for k in ("user", "outcome", "repository", "since", "until")
    }
    problems: dict[str, str] = {}
    events: list[tuple[AuditView, list[dict[str, object]]]] = []
    try:
        query = AuditQuery(
            user=form["user"] or None,
            since=_time(form["since"], "since"),
            until=_time(form["until"], "until"),
            denied=form["outcome"] == "denied",
            limit=SCAN if form["repository"] else LIMIT,
        )
        async with unit_of_work(request) as uow:
            found = await list_events(uow, visit.actor, query)
    except AdminInvalid as error:
        problems, found = error.fields, ()
    repository = form["repository"]
    for view in found:
        if form["outcome"] == "issued" and (view.outcome != "issued" or view.nothing_granted):
            continue
        if repository and not any(f":{repository}:" in r for r in view.requested):
            continue
        events.append((view, _trace(view)))
        if len(events) >= LIMIT:
            break
    return page(
        request,
        "admin/audit.html",
        visit,
        status=422 if problems else 200,
        form=form,
        events=events,
        problems=problems,
    )
