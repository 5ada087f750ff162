"""Per-process application state shared by the routes."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import Request

from regauth.ports import CallerFacts
from regauth.runtime import Runtime
from regauth.service import TokenService
from regauth.web.client_ip import Network, client_address, is_trusted
from regauth.web.metrics import Metrics
from regauth.web.raw import RawHeaders

log = logging.getLogger("regauth.web")
_CLIENT_CERT = "regauth.client_cert"
Scope = MutableMapping[str, Any]


# What the token routes read the request headers from: Starlette's, or the hot path's own.
HeaderLookup = Headers | RawHeaders


@dataclass
class AppState:
    runtime: Runtime
    metrics: Metrics
    trusted_proxies: tuple[Network, ...]
    _jwks: tuple[str, bytes] = ("", b"")

    def service(self) -> TokenService:
        return self.runtime.service

    def caller_facts(self, request: Request, service: str) -> CallerFacts:
        return self.scope_facts(request.scope, request.headers, service)

    def scope_facts(self, scope: Scope, headers: HeaderLookup, service: str) -> CallerFacts:
        """The caller facts of the request in ``scope`` (``headers`` read from it once)."""
        client = scope.get("client")
        peer = client[0] if client else None
        trusted = self.trusted_proxies
        forwarded = headers.get("x-forwarded-for") if trusted else None
        return CallerFacts(
            client_ip=client_address(peer, forwarded, trusted) if forwarded else peer,
            service=service,
            method=scope["method"],
            url=self._public_url(scope, headers, peer),
            headers=headers,
            client_cert=self.scope_certificate(scope, headers),
        )

    def client_certificate(self, request: Request) -> bytes | None:
        return self.scope_certificate(request.scope, request.headers)

    def scope_certificate(self, scope: Scope, headers: HeaderLookup) -> bytes | None:
        """DER of the caller's verified client certificate, else None (SPEC §3, mTLS).

        Our own TLS listener's peer certificate counts only when ``server.client_ca``
        is set: then the handshake verified it. Otherwise ``server.client_cert_header``
        counts, but only when the direct peer is a trusted proxy; from anyone else
        the header is ignored. A header that does not parse gives None.
        """
        server = self.runtime.settings.server
        if server.client_ca is None and not server.client_cert_header:
            return None
        # memo: the token routes ask twice per request
        if _CLIENT_CERT not in scope:
            scope[_CLIENT_CERT] = self._client_certificate(scope, headers)
        der: bytes | None = scope[_CLIENT_CERT]
        return der

    def _client_certificate(self, scope: Scope, headers: HeaderLookup) -> bytes | None:
        server = self.runtime.settings.server
        if server.client_ca is not None:
            from regauth.web.tls import peer_certificate  # uvicorn: imported only with TLS

            der = peer_certificate(scope)
            if der is not None:
                return der
        if server.client_cert_header:
            return self._forwarded_certificate(scope, headers, server.client_cert_header)
        return None

    def _forwarded_certificate(
        self, scope: Scope, headers: HeaderLookup, header: str
    ) -> bytes | None:
        values = [v for v in headers.getlist(header) if v.strip()]
        if not values:
            return None
        client = scope.get("client")
        peer = client[0] if client else None
        if peer is None or not is_trusted(peer, self.trusted_proxies):
            log.debug("ignoring %s from %s: not a trusted proxy", header, peer)
            return None
        from regauth.web.tls import forwarded_certificate

        der = forwarded_certificate(values[0]) if len(values) == 1 else None
        if der is None:
            log.warning("ignoring %s from proxy %s: not one PEM certificate", header, peer)
        return der

    def _public_url(self, scope: Scope, headers: HeaderLookup, peer: str | None) -> str:
        """The /token URL as the client addressed it (DPoP ``htu``).

        ``X-Forwarded-Proto`` / ``X-Forwarded-Host`` count only from a trusted proxy.
        """
        scheme = scope.get("scheme", "http")
        host = headers.get("host") or "{}:{}".format(*(scope.get("server") or ("", "")))
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
