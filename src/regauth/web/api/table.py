"""The route table of ``/api/v1``: one :class:`Operation` per (method, path).

The table is the single description of the API. :mod:`regauth.web.api.dispatch`
mounts it (authenticate, check the permission, parse with the ``body`` /
``query`` models, call, render with ``out``), and
:mod:`regauth.web.api.openapi` builds ``/api/v1/openapi.json`` from the same
models, so the document cannot drift from what is validated.

``params``, ``query`` and ``body`` are the pydantic models of the path
parameters, the query string and the JSON body; ``out`` the model of the
answer. ``permission`` names what the caller must hold (the ``admin`` scope holds
all); ``None`` marks a self-service operation that any signed-in local
account may call on its own things (``/me/...``) — the use case itself checks
whose things they are. ``public`` operations need no credentials at all.
:func:`as_mine` makes such an operation from an admin one on a user.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from pydantic import BaseModel

from regauth.admin import Permission
from regauth.web.api.models import TokenPath, UserPath, UserTokenPath

if TYPE_CHECKING:
    from regauth.web.api.dispatch import Call


@dataclass(frozen=True, slots=True)
class Raw:
    """A response that is not JSON (the registry bundle, JSON lines)."""

    body: bytes
    media_type: str
    filename: str = ""


Result = BaseModel | Raw | None
Handler = Callable[["Call"], Awaitable[Result]]


@dataclass(frozen=True, slots=True)
class Link:
    """An OpenAPI link: a value of this response feeds a parameter of another operation.

    ``parameters`` maps the target's parameter name to a runtime expression
    (``$response.body#/id``). Schemathesis follows links in stateful tests.
    """

    operation_id: str
    parameters: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str  # below /api/v1, with {name} path parameters
    operation_id: str
    summary: str
    tag: str
    handler: Handler
    permission: Permission | None
    params: type[BaseModel] | None = None  # path parameters
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    out: type[BaseModel] | None = None  # None: 204 No Content (unless raw)
    status: int = 200
    raw: str = ""  # media type of a Raw response
    etag: bool = False  # the response carries an ETag; writes honour If-Match
    public: bool = False
    links: Mapping[str, Link] = field(default_factory=dict)
    names_owner: bool = False  # the body names a user or group, which may not exist: 404
    description: str = ""

    @property
    def self_service(self) -> bool:
        return self.permission is None and not self.public


USER_PATH = "/users/{name}"
# The path parameters of an admin operation on a user, and those of its /me twin.
_MINE: Mapping[type[BaseModel] | None, type[BaseModel] | None] = {
    UserPath: None,
    UserTokenPath: TokenPath,
}


def as_mine(
    op: Operation,
    operation_id: str,
    summary: str,
    handler: Handler,
    links: Mapping[str, Link] | None = None,
) -> Operation:
    """The self-service twin of ``op``, an admin operation on ``/users/{name}…``.

    The twin is ``/me…`` under the tag ``me``, without a permission (the caller's
    own things) and without the ``name`` path parameter; its query, body and
    answer models and its status are those of ``op``, so the two cannot drift
    apart. ``links`` are not inherited: the admin ones name the user in the path.
    """
    if not op.path.startswith(USER_PATH) or op.params not in _MINE:
        raise ValueError(f"{op.operation_id} is not an operation on a user")
    return replace(
        op,
        path="/me" + op.path.removeprefix(USER_PATH),
        operation_id=operation_id,
        summary=summary,
        tag="me",
        handler=handler,
        permission=None,
        params=_MINE[op.params],
        links=links or {},
    )
