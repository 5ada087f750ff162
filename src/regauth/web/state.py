"""Per-process application state shared by the routes."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from regauth.ports import CallerFacts
from regauth.runtime import Runtime
from regauth.service import TokenService
from regauth.web.client_ip import Network, client_address, is_trusted
from regauth.web.metrics import Metrics


@dataclass
class AppState:
    runtime: Runtime
    metrics: Metrics
    trusted_proxies: tuple[Network, ...]
    _jwks: tuple[str, bytes] = ("", b"")

    def service(self) -> TokenService:
        return self.runtime.service

    def caller_facts(self, request: Request, service: str) -> CallerFacts:
        headers = request.headers  # a case-insensitive Mapping, built once per request
        return CallerFacts(
            client_ip=self.client_ip(request),
            service=service,
            method=request.method,
            url=self._public_url(request),
            headers=headers,
            client_cert=self.client_certificate(request),
        )

    def client_certificate(self, request: Request) -> bytes | None:
        """DER of a verified client certificate; none until TLS client auth is configured."""
        return None

    def _public_url(self, request: Request) -> str:
        """The /token URL as the client addressed it (DPoP ``htu``).

        ``X-Forwarded-Proto`` / ``X-Forwarded-Host`` count only from a trusted proxy.
        """
        scope, headers = request.scope, request.headers
        scheme = scope.get("scheme", "http")
        host = headers.get("host") or "{}:{}".format(*(scope.get("server") or ("", "")))
        peer = request.client.host if request.client else None
        if self.trusted_proxies and peer is not None and is_trusted(peer, self.trusted_proxies):
            scheme = headers.get("x-forwarded-proto", scheme).split(",")[0].strip()
            host = headers.get("x-forwarded-host", host).split(",")[0].strip()
        return f"{scheme}://{host}{scope.get('root_path', '')}{scope['path']}"

    def client_ip(self, request: Request) -> str | None:
        peer = request.client.host if request.client else None
        forwarded = request.headers.get("x-forwarded-for")
        return client_address(peer, forwarded, self.trusted_proxies)

    def jwks_body(self) -> bytes:
        import orjson

        keyring = self.runtime.keys.keyring
        if self._jwks[0] != keyring.version:
            self._jwks = (keyring.version, orjson.dumps(keyring.jwks()))
        return self._jwks[1]
