"""Mounting the route table: one Starlette endpoint per :class:`Operation`.

Each request goes: authenticate → check the operation's permission → parse
path, query and body with the operation's models (failures are 422
``admin.invalid`` naming each field) → call the handler → render its model.
Nothing here decides anything about users, rules or tokens: handlers call the
use cases of :mod:`regauth.admin`, which authorize, validate, change, record
and commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from regauth.admin import Actor
from regauth.admin.uow import UnitOfWork
from regauth.errors import AdminForbidden, AdminInvalid, ProblemError, RequestError, ScopeDenied
from regauth.ports import Clock, Random
from regauth.web.api.caller import authenticate
from regauth.web.api.table import Operation, Raw, Result
from regauth.web.state import AppState

PREFIX = "/api/v1"
MAX_BODY_BYTES = 64 * 1024
NO_STORE = {"Cache-Control": "no-store"}
Role = Literal["public", "admin"]
M = TypeVar("M", bound=BaseModel)


class NotServed(ProblemError):
    status = 404
    code = "request.not_found"
    title = "Not found"


@dataclass(frozen=True, slots=True)
class ApiEnv:
    """What handlers need beyond the request: the injected clock and randomness."""

    clock: Clock
    random: Random
    role: Role = "public"


@dataclass(slots=True)
class Call:
    """One API call as a handler sees it; ``headers`` are added to the response."""

    request: Request
    state: AppState
    env: ApiEnv
    actor: Actor
    parsed: Mapping[str, BaseModel | None]
    headers: dict[str, str] = field(default_factory=dict)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.state.runtime.db, self.env.clock)

    def params(self, model: type[M]) -> M:
        return _typed(self.parsed["params"], model)

    def query(self, model: type[M]) -> M:
        return _typed(self.parsed["query"], model)

    def body(self, model: type[M]) -> M:
        return _typed(self.parsed["body"], model)

    @property
    def if_match(self) -> str | None:
        return self.request.headers.get("if-match")


def _typed(value: BaseModel | None, model: type[M]) -> M:
    if not isinstance(value, model):
        raise TypeError(f"the operation has no {model.__name__} input")  # a route-table bug
    return value


def routes(operations: tuple[Operation, ...], env: ApiEnv, prefix: str = PREFIX) -> list[BaseRoute]:
    return [
        Route(prefix + op.path, _endpoint(op, env), methods=[op.method], name=op.operation_id)
        for op in operations
    ]


def _endpoint(op: Operation, env: ApiEnv) -> Any:
    async def endpoint(request: Request) -> Response:
        state: AppState = request.app.state.regauth
        served(state, env.role)
        actor = await authenticate(request, state)
        authorize(op, actor)
        parsed = {
            "params": parse(op.params, dict(request.path_params), "path"),
            "query": parse(op.query, dict(request.query_params), "query"),
            "body": await _body(op, request),
        }
        call = Call(request, state, env, actor, parsed)
        try:
            result = await op.handler(call)
        except AdminForbidden as exc:
            raise ScopeDenied(exc.detail) from None
        if op.method != "GET":
            state.runtime.forget_cached()
        return render(op, result, call.headers)

    endpoint.__name__ = op.operation_id
    return endpoint


def served(state: AppState, role: Role) -> None:
    """404 when the API is off, or lives on its own listener and this is the public one."""
    admin = state.runtime.settings.admin
    if not admin.enabled or (role == "public" and admin.listen):
        raise NotServed("the admin API is not served here")


def authorize(op: Operation, actor: Actor) -> None:
    if op.permission is not None and not actor.holds(op.permission):
        raise ScopeDenied(f"this needs the {op.permission.value} scope")
    if op.self_service and actor.kind != "user":
        raise ScopeDenied("self-service operations need a local account")


def parse(
    model: type[BaseModel] | None, data: Mapping[str, object], where: str
) -> BaseModel | None:
    if model is None:
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid(exc, where) from None


async def _body(op: Operation, request: Request) -> BaseModel | None:
    if op.body is None:
        return None
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise RequestError("the request body must be application/json")
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise RequestError("the request body is too large")
    try:
        return op.body.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise RequestError("the request body is not valid JSON") from None
        raise invalid(exc, "body") from None


def invalid(exc: ValidationError, where: str) -> AdminInvalid:
    """``admin.invalid`` naming each field (body fields bare, others ``query.``/``path.``)."""
    fields: dict[str, str] = {}
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        path = field_path(error["loc"])
        name = path if where == "body" else f"{where}.{path}" if path else where
        fields.setdefault(name or "body", error["msg"])
    return AdminInvalid(fields)


def field_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out


def render(op: Operation, result: Result, headers: Mapping[str, str]) -> Response:
    all_headers = {**NO_STORE, **headers}
    if result is None:
        return Response(status_code=204, headers=all_headers)
    if isinstance(result, Raw):
        if result.filename:
            all_headers["Content-Disposition"] = f'attachment; filename="{result.filename}"'
        return Response(result.body, op.status, all_headers, result.media_type)
    body = orjson.dumps(result.model_dump(mode="json"))
    return Response(body, op.status, all_headers, "application/json")
