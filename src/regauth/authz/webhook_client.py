"""One authorization webhook's HTTP side: TLS material, the headers of seed 000, the call.

:class:`WebhookClient` owns one pooled :class:`httpx.AsyncClient` with its own
TLS context (client certificate and key, server CA). :meth:`WebhookClient.ask`
never raises for a failed call: it answers a :class:`Verdict`, and every
failure (timeout, refused connection, TLS or protocol error) is a denial.
Environment proxies and ``SSL_CERT_FILE`` are ignored (``trust_env=False``):
what the configuration file says is what is used.
"""

from __future__ import annotations

import base64
import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import anyio
import httpx

from regauth.config.endpoints import ClientTlsSettings
from regauth.config.webhooks import WebhookSettings
from regauth.domain.principal import Principal
from regauth.errors import ConfigError
from regauth.ports import CallerFacts

_log = logging.getLogger(__name__)
_MAX_BODY = 64 * 1024  # a larger (or unsized) answer is not read; its connection is dropped
Headers = list[tuple[bytes, bytes]]


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer for one action.

    ``detail`` is shown in the decision trace (``200``, ``403``, ``timeout``,
    ``cached``…); ``result`` is the metric label (``allow``, ``deny``,
    ``error``, ``timeout``, ``cached_allow``, ``cached_deny``).
    """

    allowed: bool
    detail: str
    result: str

    @property
    def cacheable(self) -> bool:
        """Only answers the webhook actually gave are cached, never failures."""
        return self.result in ("allow", "deny")

    def as_cached(self) -> Verdict:
        return Verdict(self.allowed, "cached", f"cached_{self.result}")


def config_path(name: str) -> str:
    """The dotted configuration path of webhook ``name`` (quoted when not a bare key)."""
    bare = name and all(c.isascii() and (c.isalnum() or c in "-_") for c in name)
    return f"auth.webhook.{name}" if bare else f'auth.webhook."{name}"'


def load_tls(name: str, settings: WebhookSettings, base_dir: Path) -> ssl.SSLContext:
    """Build the TLS context of one webhook; raise ConfigError naming the file at fault."""
    return client_tls(settings, base_dir, config_path(name))


def client_tls(settings: ClientTlsSettings, base_dir: Path, prefix: str) -> ssl.SSLContext:
    """The TLS context of an outgoing endpoint (authorization or event webhook) whose
    settings are at ``prefix``; ConfigError names the key of the file at fault."""
    if settings.server_ca_bundle is None:
        context = httpx.create_ssl_context(trust_env=False)
    else:
        context = _trust(base_dir / settings.server_ca_bundle, f"{prefix}.server_ca_bundle")
    cert, key = settings.client_certificate_bundle, settings.client_private_key
    if cert is not None and key is not None:
        _identity(context, base_dir / cert, base_dir / key, prefix)
    return context


def _trust(path: Path, at: str) -> ssl.SSLContext:
    _readable(path, at)
    try:
        return ssl.create_default_context(cafile=str(path))
    except ssl.SSLError:
        raise ConfigError(f"{path} holds no PEM CA certificate", path=at) from None


def _identity(context: ssl.SSLContext, cert: Path, key: Path, prefix: str) -> None:
    _readable(cert, f"{prefix}.client_certificate_bundle")
    _readable(key, f"{prefix}.client_private_key")
    try:
        # The callback makes an encrypted key fail here instead of prompting on a terminal.
        context.load_cert_chain(str(cert), str(key), password=lambda: b"")
    except ssl.SSLError:
        message = f"{cert} and {key} are not a PEM certificate chain and its unencrypted key"
        raise ConfigError(message, path=f"{prefix}.client_private_key") from None


def _readable(path: Path, at: str) -> None:
    try:
        path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", path=at) from None


def protocol_headers(
    action: str, namespace: str, principal: Principal, facts: CallerFacts
) -> dict[str, str]:
    """The ``X-Forwarded-*`` / ``X-Registry-*`` headers of seed 000 for one token-time action."""
    url = urlsplit(facts.url)
    headers = {
        "X-Forwarded-Method": facts.method,
        "X-Forwarded-Proto": url.scheme,
        "X-Forwarded-Host": url.netloc.rpartition("@")[2],
        "X-Forwarded-Uri": url.path,
        "X-Forwarded-For": facts.client_ip or "",
        "X-Registry-Action": action,
        "X-Registry-Namespace": namespace,
    }
    if not principal.anonymous:
        headers["X-Registry-Username"] = principal.subject
        headers["X-Registry-Identity-ID"] = principal.token_id or principal.subject
        _add_claim(headers, "X-Registry-Certificate-CN", principal.claims, "certificate_cn")
        _add_claim(headers, "X-Registry-Certificate-O", principal.claims, "certificate_o")
    return headers


def _add_claim(
    headers: dict[str, str], header: str, claims: Mapping[str, object], claim: str
) -> None:
    value = claims.get(claim)
    if isinstance(value, str) and value:
        headers[header] = value
    elif isinstance(value, list | tuple) and value:
        headers[header] = ",".join(str(v) for v in value)


def _failure_kind(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return "timeout"
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            return "tls error"
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, httpx.ConnectError):
        return "connection error"
    if isinstance(exc, httpx.HTTPError):
        return "transport error"
    return "invalid request"


class WebhookClient:
    """Calls one named webhook, with the TLS context from :func:`load_tls`; must be closed."""

    def __init__(self, name: str, settings: WebhookSettings, tls: ssl.SSLContext) -> None:
        self.name = name
        self.cache_ttl = settings.cache_ttl
        self._url = settings.url
        self._seconds = settings.timeout_ms / 1000
        self._forward = settings.forward_headers
        self._authorization = _authorization(settings)
        self._client = httpx.AsyncClient(
            verify=tls,
            timeout=httpx.Timeout(self._seconds),
            follow_redirects=False,
            trust_env=False,
        )

    def __repr__(self) -> str:
        return f"WebhookClient({self.name!r}, {self._url!r})"

    def forwarded(self, facts: CallerFacts) -> tuple[str | None, ...]:
        """The values of the forwarded client headers (None when absent), in configured order."""
        lower = {k.lower(): v for k, v in facts.headers.items()}
        return tuple(lower.get(name.lower()) for name in self._forward)

    def headers(
        self, action: str, namespace: str, principal: Principal, facts: CallerFacts
    ) -> Headers:
        """Forwarded client headers, then the protocol headers, then our credential.

        Later ones win: a client cannot forge ``X-Registry-*`` and the configured
        credential replaces a forwarded ``Authorization``. Client values go out
        as the bytes they arrived as (latin-1); ours are UTF-8.
        """
        out: dict[str, tuple[bytes, bytes]] = {}
        for name, value in zip(self._forward, self.forwarded(facts), strict=True):
            if value is not None:
                out[name.lower()] = (name.encode("ascii"), value.encode("latin-1", "replace"))
        for name, text in protocol_headers(action, namespace, principal, facts).items():
            out[name.lower()] = (name.encode("ascii"), text.encode("utf-8"))
        if self._authorization is not None:
            out["authorization"] = (b"Authorization", self._authorization)
        return list(out.values())

    async def ask(self, headers: Headers) -> Verdict:
        """GET the webhook: 2xx allows; any other status, timeout or error denies."""
        try:
            with anyio.fail_after(self._seconds):
                status = await self._status(headers)
        except (httpx.HTTPError, OSError, ValueError) as exc:
            kind = _failure_kind(exc)
            _log.warning('authorization webhook "%s" failed (%s); denying', self.name, kind)
            return Verdict(False, kind, "timeout" if kind == "timeout" else "error")
        allowed = 200 <= status < 300
        return Verdict(allowed, str(status), "allow" if allowed else "deny")

    async def _status(self, headers: Headers) -> int:
        async with self._client.stream("GET", self._url, headers=headers) as response:
            length = response.headers.get("content-length", "")
            if length.isdigit() and int(length) <= _MAX_BODY:
                await response.aread()  # so the keep-alive connection goes back to the pool
            return response.status_code

    async def aclose(self) -> None:
        await self._client.aclose()


def _authorization(settings: WebhookSettings) -> bytes | None:
    if settings.bearer_token is not None:
        return b"Bearer " + settings.bearer_token.get_secret_value().encode("ascii")
    if settings.basic_auth is not None:
        user = settings.basic_auth.username
        pair = f"{user}:{settings.basic_auth.password.get_secret_value()}".encode()
        return b"Basic " + base64.b64encode(pair)
    return None
