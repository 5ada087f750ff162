"""Prometheus metrics named by the seeds (SPEC §7)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.issued = Counter(
            "registry_token_issued_total", "Tokens issued", registry=self.registry
        )
        self.rejected = Counter(
            "registry_token_rejected_total",
            "Token requests refused, by problem code",
            ["reason"],
            registry=self.registry,
        )
        self.authentications = Counter(
            "regauth_authentication_attempts_total",
            "Authentication attempts by identity source and result",
            ["source", "result"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "regauth_token_request_duration_seconds",
            "Time to answer a token request",
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )

    async def endpoint(self, request: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)
