"""Client certificates at the web edge (SPEC §3, mTLS; RFC 8705 for ``cnf.x5t#S256``).

Two ways a verified client certificate reaches :class:`~regauth.web.state.AppState`:

* **regauth terminates TLS** (``server.tls_cert``/``tls_key``/``client_ca``).
  granian (2.8) can verify client certificates but only as *required*, and it
  shows the app nothing about them; hypercorn (0.18) does not either. So
  ``regauth serve`` runs uvicorn in TLS mode with :class:`PeerCertificateProtocol`,
  which puts the peer certificate into the standard ASGI TLS extension
  (``scope["extensions"]["tls"]``, asgiref ``specs/tls.rst``).
  :func:`peer_certificate` reads it back; any server that implements the
  extension works the same.
* **a proxy terminates TLS** and sends the certificate as URL-escaped PEM
  (nginx ``$ssl_client_escaped_cert``) in ``server.client_cert_header``:
  :func:`forwarded_certificate`. The caller must first check that the peer is
  a trusted proxy.

Every function here returns DER bytes or ``None``; none raises on bad input.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from uvicorn.protocols.http.h11_impl import H11Protocol

if TYPE_CHECKING:
    from uvicorn._types import ASGI3Application, ASGIReceiveCallable, ASGISendCallable, Scope
    from uvicorn.config import Config

# RFC 8446 / RFC 5246 protocol version numbers, as the TLS extension wants them.
_TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


def server_context(cert: Path, key: Path, client_ca: Path | None) -> ssl.SSLContext:
    """An HTTPS server context (TLS ≥ 1.2; Python's secure cipher defaults).

    With ``client_ca`` a client certificate is *requested* and, when sent,
    must chain to ``client_ca`` or the handshake fails (``CERT_OPTIONAL``):
    callers without one still reach the app and may use Basic or be anonymous.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_RENEGOTIATION  # one identity per connection
    context.load_cert_chain(cert, key)
    if client_ca is not None:
        context.load_verify_locations(cafile=client_ca)
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


def context_factory(
    cert: Path, key: Path, client_ca: Path | None, config: Config, default: object
) -> ssl.SSLContext:
    """uvicorn's ``ssl_context_factory`` (bind the paths with ``functools.partial``)."""
    return server_context(cert, key, client_ca)


def tls_extension(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> dict[str, object]:
    """The ASGI TLS extension for one connection, after its handshake.

    Python's ``ssl`` returns the peer certificate only once OpenSSL verified it
    (a failed verification aborts the handshake), so ``client_cert_error`` is
    always ``None``. Only the leaf is available (no chain before Python 3.13).
    """
    der = ssl_object.getpeercert(binary_form=True)
    chain = [ssl.DER_cert_to_PEM_cert(der)] if der else []
    name = _subject_name(der) if der else None
    return {
        "server_cert": None,
        "client_cert_chain": chain,
        "client_cert_name": name,
        "client_cert_error": None,
        "tls_version": _TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": None,  # Python does not expose the IANA number
    }


def _subject_name(der: bytes) -> str | None:
    try:
        return x509.load_der_x509_certificate(der).subject.rfc4514_string()
    except ValueError:
        return None


class _WithTlsExtension:
    """Wraps the app for one connection: adds ``extensions["tls"]`` to each scope."""

    def __init__(self, app: ASGI3Application, tls: dict[str, object]) -> None:
        self.app = app
        self.tls = tls

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] != "lifespan":
            extensions = {**scope.get("extensions", {}), "tls": self.tls}
            scope = cast("Scope", {**scope, "extensions": extensions})
        await self.app(scope, receive, send)


class PeerCertificateProtocol(H11Protocol):
    """uvicorn's h11 protocol, plus the ASGI TLS extension on TLS connections.

    asyncio calls ``connection_made`` once the TLS handshake has completed,
    so the transport's ``ssl_object`` already holds the verified peer
    certificate. Given to uvicorn as ``http="regauth.web.tls:PeerCertificateProtocol"``.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        if isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
            self.app = _WithTlsExtension(self.app, tls_extension(ssl_object))


def peer_certificate(scope: Mapping[str, Any]) -> bytes | None:
    """DER of the verified client certificate in the ASGI TLS extension, or None.

    A certificate the server reports as failed (``client_cert_error``) is ignored.
    """
    tls = (scope.get("extensions") or {}).get("tls")
    if not isinstance(tls, Mapping) or tls.get("client_cert_error") is not None:
        return None
    chain = list(tls.get("client_cert_chain") or ())
    if not chain or not isinstance(chain[0], str):
        return None
    return _pem_to_der(chain[0])


def forwarded_certificate(value: str) -> bytes | None:
    """DER of the URL-escaped PEM certificate a proxy forwarded, or None if unparsable."""
    return _pem_to_der(unquote(value).strip())


def _pem_to_der(pem: str) -> bytes | None:
    if not pem.startswith("-----BEGIN CERTIFICATE-----"):
        return None
    try:
        return x509.load_pem_x509_certificate(pem.encode("ascii")).public_bytes(Encoding.DER)
    except (ValueError, UnicodeEncodeError):
        return None
