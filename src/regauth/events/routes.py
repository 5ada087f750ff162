"""HTTP endpoints of events: registry notifications in, the signed approval callback.

Neither endpoint takes an API key or an admin session: ``/events/registry``
is authenticated by the static header the registry sends, and
``/api/v1/webhooks/approval-response`` only by the HMAC signature of its raw
body (an admin-API authentication layer must leave :data:`UNAUTHENTICATED`
alone). Both answer problem documents; neither answers 5xx for a bad request.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from regauth.errors import CredentialInUrl, EventsError, EventsUnauthorized, ProblemError
from regauth.events.registry import MEDIA_TYPES, parse_envelope
from regauth.events.runtime import EventsRuntime

REGISTRY_PATH = "/events/registry"
APPROVAL_PATH = "/api/v1/webhooks/approval-response"
UNAUTHENTICATED = frozenset({REGISTRY_PATH, APPROVAL_PATH})
MAX_BODY = 4 * 1024 * 1024


class NotEnabled(ProblemError):
    status = 404
    code = "events.not_enabled"
    title = "Not enabled"


def _events(request: Request) -> EventsRuntime:
    events: EventsRuntime | None = request.app.state.regauth.runtime.events
    if events is None:
        raise NotEnabled("events are not configured")
    return events


async def _body(request: Request) -> bytes:
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BODY:
        raise EventsError("the body is too large")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise EventsError("the body is too large")
        chunks.append(chunk)
    return b"".join(chunks)


async def registry_notifications(request: Request) -> Response:
    """Store a Distribution notification envelope; 200 once it is committed."""
    events = _events(request)
    if events.registry_expected is None:
        raise NotEnabled("registry notifications are not configured")
    if request.url.query:
        raise CredentialInUrl("this endpoint takes no query parameters")
    if not events.registry_sender_ok(request.headers.get(events.registry_header)):
        raise EventsUnauthorized("the notification sender did not present the configured header")
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in MEDIA_TYPES:
        raise EventsError("expected application/vnd.docker.distribution.events.v1+json")
    parsed = parse_envelope(await _body(request))
    new = await events.registry.record(parsed, events.clock.now())
    for event in new:
        events.metrics.registry_events.labels(event.action).inc()
    if new:
        events.worker.nudge()
    return Response(status_code=200)


async def approval_response(request: Request) -> Response:
    """The approval service's signed answer to an access request."""
    events = _events(request)
    if not events.approval_enabled:
        raise NotEnabled("the approval callback is not enabled")
    header = request.headers.get(events.signature_header)
    body = await _body(request)
    view = await events.approvals.respond(header, body, request.url.query)
    return JSONResponse({"request_id": view.id, "state": view.state}, 200)
