"""A direct route to ``/token``, the hot path, in front of the Starlette app.

Every registry operation starts with a token request, so ``/token`` skips
Starlette's middleware stack and router (which cost more than the token
itself) and calls the same handlers directly; errors are rendered by the same
problem handlers. Everything else — and ``/token`` before start-up completed
— goes through the full application.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request

from regauth.errors import ProblemError
from regauth.web.problems import handle_problem, handle_unexpected
from regauth.web.token import get_token, post_token

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
HANDLERS = {"GET": get_token, "POST": post_token}


class TokenFastPath:
    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.state = app.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = HANDLERS.get(scope.get("method", "")) if scope["type"] == "http" else None
        if handler is None or scope["path"] != "/token" or not hasattr(self.state, "regauth"):
            await self.app(scope, receive, send)
            return
        scope["app"] = self.app
        request = Request(scope, receive)
        started = time.perf_counter()
        try:
            response = await handler(request)
        except ProblemError as exc:
            response = await handle_problem(request, exc)
        except Exception as exc:  # rendered as a bare 500; the reason goes to the log
            response = await handle_unexpected(request, exc)
        self.state.regauth.metrics.latency.observe(time.perf_counter() - started)  # every answer
        await response(scope, receive, send)
