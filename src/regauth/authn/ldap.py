"""LDAP identity source: search the user as a service account, then bind as them (SPEC §3).

Called by the identity chain with every credential; answers only Basic ones:

1. an empty username → ``NoOpinion``; an empty password → ``Rejected`` without
   contacting the server (an empty password makes an RFC 4513 "unauthenticated
   bind", which many servers answer with success);
2. ``user_filter`` with the username escaped (RFC 4515) is searched under
   ``base_dn`` on a pooled connection bound as the service account;
3. no entry → a bind to an absent DN (the same work as a wrong password, so the
   answer time does not tell who exists), then ``NoOpinion``: another source
   may know the user. Several entries → ``Rejected`` (and a warning);
4. a bind as the entry's DN on a fresh connection: refused → ``Rejected``;
5. groups from a group search or the entry's ``memberOf`` → ``Authenticated``.

Anything that prevents a decision (refused connection, timeout, TLS failure,
the service account refused, an unexpected result code) raises
:class:`~regauth.errors.BackendUnavailable` (503), never a 401; the library's
text goes to the log at WARNING, never to the client. ldap3 is synchronous, so
each login runs in a worker thread, at most ``pool_size`` at once.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import ssl
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar
from urllib.parse import urlsplit

import anyio
import anyio.to_thread

from regauth.config.ldap import LdapSettings
from regauth.domain.credentials import BasicCredential, Credential
from regauth.domain.principal import Principal
from regauth.errors import BackendUnavailable, ConfigError, InvalidCredential
from regauth.ports import Authenticated, CallerFacts, NoOpinion, Outcome, Rejected

with warnings.catch_warnings():
    # ldap3 2.9.1 imports names that pyasn1 >= 0.6 deprecates, at import time only.
    warnings.simplefilter("ignore", DeprecationWarning)
    import ldap3  # type: ignore[import-untyped, unused-ignore]
    from ldap3.core.exceptions import LDAPException  # type: ignore[import-untyped, unused-ignore]

SOURCE = "ldap"
log = logging.getLogger("regauth.authn.ldap")

# Bind results that mean "these credentials are refused" (RFC 4511 §4.1.9):
# inappropriateAuthentication, invalidCredentials, insufficientAccessRights,
# unwillingToPerform (e.g. a locked or disabled account).
_REFUSED = frozenset({48, 49, 50, 53})
_SIZE_LIMIT_EXCEEDED = 4
_ABSENT_RDN = "cn=regauth-absent-user"
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
_RDN_TOKEN = re.compile(r"\\([0-9A-Fa-f]{2})|\\(.)|([^,+\\])", re.DOTALL)
_USERNAME_ATTRIBUTE = re.compile(r"\(\s*([A-Za-z][A-Za-z0-9-]*)\s*=\s*\{username\}\s*\)")
T = TypeVar("T")
Connection = Any  # ldap3.Connection; ldap3 ships no type information


class DirectoryError(Exception):
    """The directory answered, but not in a way that lets us decide (logged, then 503)."""


def escape_filter_value(value: str) -> str:
    """Escape an assertion value for a search filter (RFC 4515 §3)."""
    return "".join(f"\\{ord(c):02x}" if c in "\\*()\x00" else c for c in value)


def render_filter(template: str, **values: str) -> str:
    """Substitute ``{name}`` placeholders with escaped values (not ``str.format``: braces stay)."""
    for name, value in values.items():
        template = template.replace("{" + name + "}", escape_filter_value(value))
    return template


def first_rdn_value(dn: str) -> str:
    """The value of a DN's first RDN, unescaped (RFC 4514): ``cn=a\\2c b,ou=g`` → ``a, b``."""
    out = bytearray()
    value, pos = dn.partition("=")[2], 0
    while match := _RDN_TOKEN.match(value, pos):  # stops at the first unescaped "," or "+"
        pair, escaped, plain = match.groups()
        out += bytes.fromhex(pair) if pair else (escaped or plain).encode()
        pos = match.end()
    return out.decode(errors="replace").strip()


@dataclass(frozen=True, slots=True)
class _Entry:
    dn: str
    attributes: dict[str, list[str]]

    def values(self, name: str) -> list[str]:
        wanted = name.casefold()
        return next((v for k, v in self.attributes.items() if k.casefold() == wanted), [])


class LdapAuthenticator:
    """The ``ldap`` identity source. No I/O until the first ``authenticate``."""

    name = SOURCE

    def __init__(self, settings: LdapSettings, *, ssl_context: ssl.SSLContext | None = None):
        parts = urlsplit(settings.url)
        self._settings = settings
        self._host = parts.hostname or ""
        self._port = parts.port or (636 if parts.scheme == "ldaps" else 389)
        self._ldaps = parts.scheme == "ldaps"
        match = _USERNAME_ATTRIBUTE.search(settings.user_filter)
        self._username_attribute = match.group(1) if match else None
        self._ssl_context = ssl_context
        self._lock = threading.Lock()
        self._idle: list[Connection] = []
        self._closed = False
        self._limiter = anyio.CapacityLimiter(settings.pool_size)

    @classmethod
    def build(cls, settings: LdapSettings, *, base_dir: Path | None = None) -> LdapAuthenticator:
        """Read the CA file now (relative to ``base_dir``) so a bad one stops start-up."""
        if not settings.uses_tls:
            if urlsplit(settings.url).hostname not in _LOOPBACK:
                log.warning("auth.ldap: no TLS, so passwords cross the network in clear")
            return cls(settings)
        ca_file = settings.ca_file
        if ca_file is not None and base_dir is not None:
            ca_file = base_dir / ca_file
        try:
            context = ssl.create_default_context(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"cannot load CA file: {exc}", path="auth.ldap.ca_file") from None
        return cls(settings, ssl_context=context)

    async def authenticate(self, credential: Credential, facts: CallerFacts) -> Outcome:
        if not isinstance(credential, BasicCredential) or not credential.username:
            return NoOpinion()
        if not credential.password:
            return Rejected(InvalidCredential())
        return await anyio.to_thread.run_sync(
            self._login, credential.username, credential.password, limiter=self._limiter
        )

    async def aclose(self) -> None:
        """Unbind the pooled service connections; later logins still work, unpooled."""
        with self._lock:
            idle, self._idle = self._idle, []
            self._closed = True
        await anyio.to_thread.run_sync(_discard_all, idle)

    # -- in a worker thread ---------------------------------------------------------------

    def _login(self, username: str, password: str) -> Outcome:
        try:
            return self._decide(username, password)
        except (LDAPException, OSError, DirectoryError) as exc:
            # ldap3's messages carry no credentials; they name the operation and the cause.
            log.warning(
                "LDAP %s:%d unavailable: %s: %s", self._host, self._port, type(exc).__name__, exc
            )
            raise BackendUnavailable("the LDAP directory is unavailable") from None

    def _decide(self, username: str, password: str) -> Outcome:
        entries = self._search_user(username)
        if not entries:
            self._bind_absent(password)
            return NoOpinion()
        if len(entries) > 1:
            log.warning("LDAP user_filter matches several entries for one username; refused")
            return Rejected(InvalidCredential())
        entry = entries[0]
        connection = self._open(entry.dn, password)
        if connection is None:
            return Rejected(InvalidCredential())
        _discard(connection)
        subject = self._subject(entry, username)
        claims = MappingProxyType({"dn": entry.dn})
        return Authenticated(Principal(subject, SOURCE, self._groups(entry, subject), claims))

    def _bind_absent(self, password: str) -> None:
        """The work of a wrong password, so an unknown user cannot be told by the answer time."""
        with contextlib.suppress(DirectoryError):
            _discard(self._open(f"{_ABSENT_RDN},{self._settings.base_dn}", password))

    def _search_user(self, username: str) -> list[_Entry]:
        s = self._settings
        wanted = [a for a in (self._username_attribute, s.member_of_attribute) if a]
        query = render_filter(s.user_filter, username=username)
        return self._with_service(lambda c: self._search(c, s.base_dn, query, wanted, 2))

    def _subject(self, entry: _Entry, username: str) -> str:
        """The entry's spelling of the username (``Alice`` → ``alice``), else as given."""
        if self._username_attribute is None:
            return username
        folded = username.casefold()
        values = entry.values(self._username_attribute)
        return next((v for v in values if v.casefold() == folded), username)

    def _groups(self, entry: _Entry, subject: str) -> frozenset[str]:
        s = self._settings
        if s.member_of_attribute is not None:
            names = (first_rdn_value(dn) for dn in entry.values(s.member_of_attribute))
        elif s.group_base_dn is not None:
            base = s.group_base_dn
            query = render_filter(s.group_filter, dn=entry.dn, username=subject)
            found = self._with_service(lambda c: self._search(c, base, query, [s.group_attribute]))
            names = (v for group in found for v in group.values(s.group_attribute)[:1])
        else:
            return frozenset()
        return frozenset(n for n in names if n)

    def _search(
        self, conn: Connection, base: str, query: str, attributes: list[str], size_limit: int = 0
    ) -> list[_Entry]:
        conn.search(
            base,
            query,
            ldap3.SUBTREE,
            attributes=attributes or [ldap3.NO_ATTRIBUTES],
            size_limit=size_limit,
            time_limit=math.ceil(self._settings.timeout),
        )
        code = conn.result["result"]
        if code not in (0, _SIZE_LIMIT_EXCEEDED):
            raise DirectoryError(f"search under {base!r} answered {conn.result['description']}")
        return [
            _Entry(item["dn"], _decode(item.get("raw_attributes", {})))
            for item in conn.response or ()
            if item.get("type") == "searchResEntry"
        ]

    def _with_service(self, operation: Callable[[Connection], T]) -> T:
        """Run ``operation`` on a pooled service connection; retry once if a reused one is stale."""
        conn, reused = self._checkout()
        try:
            result = operation(conn)
        except (LDAPException, OSError) as exc:
            _discard(conn)
            if not reused or isinstance(exc, TimeoutError):
                raise
            log.info("LDAP pooled connection failed (%s); retrying once", type(exc).__name__)
            conn = self._service_connection()
            try:
                result = operation(conn)
            except BaseException:
                _discard(conn)
                raise
        except BaseException:
            _discard(conn)
            raise
        self._checkin(conn)
        return result

    def _checkout(self) -> tuple[Connection, bool]:
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return self._service_connection(), False

    def _checkin(self, conn: Connection) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < self._settings.pool_size:
                self._idle.append(conn)
                return
        _discard(conn)

    def _service_connection(self) -> Connection:
        s = self._settings
        password = s.bind_password.get_secret_value() if s.bind_password else None
        conn = self._open(s.bind_dn or None, password)
        if conn is None:
            raise DirectoryError("the service account (bind_dn) was refused")
        return conn

    def _open(self, dn: str | None, password: str | None) -> Connection | None:
        """A connection bound as ``dn`` (anonymous for None), or None if the bind was refused."""
        conn = ldap3.Connection(
            self._new_server(),
            user=dn,
            password=password,
            raise_exceptions=False,
            auto_referrals=False,
            read_only=True,
        )
        try:
            conn.open(read_server_info=False)
            # ldap3 applies a float timeout only to connect(); keep it for every later read.
            conn.socket.settimeout(self._settings.timeout)
            if self._settings.start_tls and not conn.start_tls(read_server_info=False):
                raise DirectoryError("StartTLS was not started")
            if conn.bind():
                return conn
        except BaseException:
            _discard(conn)
            raise
        result = dict(conn.result)
        _discard(conn)
        if result["result"] in _REFUSED:
            return None
        raise DirectoryError(f"bind answered {result['description']}")

    def _new_server(self) -> Any:
        # A fresh ldap3.Server per connection: a shared one remembers a failed address as
        # unavailable for a while and then refuses to connect to it at all.
        return ldap3.Server(
            self._host,
            port=self._port,
            use_ssl=self._ldaps,
            tls=self._tls(),
            get_info=ldap3.NONE,
            connect_timeout=self._settings.timeout,
        )

    def _tls(self) -> _ContextTls | None:
        if not self._settings.uses_tls:
            return None
        with self._lock:
            if self._ssl_context is None:  # not built by build(): read the CA file now
                self._ssl_context = ssl.create_default_context(cafile=self._settings.ca_file)
            return _ContextTls(self._ssl_context, self._host)


class _ContextTls(ldap3.Tls):  # type: ignore[misc, unused-ignore]
    """ldap3's TLS hook, verified by the standard library (chain and host name, with SNI).

    ldap3's own host name check calls ``ssl.match_hostname``, deprecated since Python 3.7.
    """

    def __init__(self, context: ssl.SSLContext, host: str):
        super().__init__()
        self._context = context
        self._host = host

    def wrap_socket(self, connection: Connection, do_handshake: bool = False) -> None:
        connection.socket = self._context.wrap_socket(
            connection.socket, server_hostname=self._host, do_handshake_on_connect=do_handshake
        )


def _decode(raw: dict[str, list[bytes]]) -> dict[str, list[str]]:
    return {k: [v.decode(errors="replace") for v in vs] for k, vs in raw.items()}


def _discard_all(connections: list[Connection]) -> None:
    for conn in connections:
        _discard(conn)


def _discard(conn: Connection | None) -> None:
    if conn is None:
        return
    with contextlib.suppress(LDAPException, OSError):  # the socket may be gone already
        conn.unbind()
    # ldap3 leaves the socket open when connect() or the TLS handshake failed.
    if (sock := getattr(conn, "socket", None)) is not None:
        sock.close()
