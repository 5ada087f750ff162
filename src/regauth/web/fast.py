"""A direct route to ``/token``, the hot path, in front of the Starlette app.

Every registry operation starts with a token request, so ``/token`` skips
Starlette's middleware stack and router (which cost more than the token
itself) and calls the same handler code directly, at the ASGI level: the
query, form and headers are parsed once, and a 200 answer is sent with its
headers prepared at import (the same headers, in the same order, as the
router's ``Response``) instead of through a ``Response`` object. Errors are
rendered by the same problem handlers. Everything else — ``HEAD``, other
methods, and ``/token`` before start-up completed — goes through the full
application.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request

from regauth.errors import ProblemError
from regauth.web.problems import handle_problem, handle_unexpected
from regauth.web.raw import RawHeaders
from regauth.web.token import OK_HEADERS, OK_TYPE, token_body

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
METHODS = frozenset({"GET", "POST"})


class TokenFastPath:
    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.state = app.state
        # What ``app.state`` stores its attributes in, read without State.__getattr__ (the
        # state is set again on every reload: looked up on every request).
        self._states: dict[str, Any] = app.state._state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = (
            self._states.get("regauth")
            if scope["type"] == "http"
            and scope["path"] == "/token"
            and scope.get("method") in METHODS
            else None
        )
        if state is None:
            await self.app(scope, receive, send)
            return
        scope["app"] = self.app
        started = time.perf_counter()
        try:
            body = await token_body(state, scope, RawHeaders(scope["headers"]), receive)
        except Exception as exc:
            request = Request(scope, receive)  # the problem handlers take a Request
            if isinstance(exc, ProblemError):
                response = await handle_problem(request, exc)
            else:  # rendered as a bare 500; the reason goes to the log
                response = await handle_unexpected(request, exc)
            state.metrics.latency.observe(time.perf_counter() - started)
            await response(scope, receive, send)
            return
        state.metrics.latency.observe(time.perf_counter() - started)  # every answer
        length = (b"content-length", str(len(body)).encode("latin-1"))
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*OK_HEADERS, length, OK_TYPE],
            }
        )
        await send({"type": "http.response.body", "body": body})
