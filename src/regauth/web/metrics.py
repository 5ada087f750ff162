"""The server's Prometheus metrics (names from SPEC §7) and the ``/metrics`` endpoint.

Values are shared by every worker of one ``regauth serve`` (see
:mod:`regauth.metrics.store`): any worker's ``/metrics`` answers for the
whole server, and the counters of a worker that was replaced (reload by
SIGHUP) keep counting. Updates on the hot path are one float addition each.

``/metrics`` is public on the server's port by default; ``server.metrics_auth
= "admin"`` makes it require an API key with the ``admin`` scope, and
``server.metrics_listen`` serves it on another address instead (then the
public port answers 404).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from regauth.authn.chain import attempts_counter
from regauth.errors import InvalidCredential, MissingCredential, ScopeDenied
from regauth.metrics import CONTENT_TYPE, Counter, Histogram, MetricRegistry, directory_from_env
from regauth.ports import Authenticated

if TYPE_CHECKING:
    from regauth.web.state import AppState

ADMIN_SCOPE = "admin"

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


class Metrics:
    def __init__(self, directory: Path | None = None, *, reader: bool = False) -> None:
        self.registry = MetricRegistry(directory, reader=reader)
        self.issued = Counter(self.registry, "registry_token_issued_total", "Tokens issued")
        self.rejected = Counter(
            self.registry,
            "registry_token_rejected_total",
            "Token requests refused, by problem code",
            ["reason"],
        )
        self.authentications = attempts_counter(self.registry)  # counted by the identity chain
        self.latency = Histogram(
            self.registry,
            "regauth_token_request_duration_seconds",
            "Time to answer a token request (every answer: issued, refused, malformed)",
            buckets=LATENCY_BUCKETS,
        )

    @classmethod
    def from_environment(cls) -> Metrics:
        """Shared with the other workers when ``regauth serve`` made a metrics directory."""
        return cls(directory_from_env())

    def exposition(self) -> bytes:
        return self.registry.render()

    async def endpoint(self, request: Request) -> Response:
        return Response(self.exposition(), media_type=CONTENT_TYPE)


async def require_admin(state: AppState, request: Request) -> None:
    """Raise unless the request carries an API key holding the ``admin`` scope.

    401 without a credential or with one no API key matches; 403 for a valid key
    without the scope. Nothing about the presented key is echoed.
    """
    from regauth.web.token import request_credential

    credential = request_credential(request.headers.get("authorization"), request)
    if credential is None:
        raise MissingCredential("/metrics needs an API key with the admin scope")
    keys = state.runtime.api_keys
    outcome = await keys.authenticate(credential, state.caller_facts(request, "")) if keys else None
    if not isinstance(outcome, Authenticated):
        raise InvalidCredential("/metrics needs an API key with the admin scope")
    scopes = outcome.principal.claims.get("scopes")
    if not isinstance(scopes, list) or ADMIN_SCOPE not in scopes:
        raise ScopeDenied("this API key does not hold the admin scope")
