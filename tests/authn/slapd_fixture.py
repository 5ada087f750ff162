"""A private OpenLDAP ``slapd`` for tests: its own config, database, port and log.

:func:`running_slapd` writes a ``slapd.conf`` (mdb database, the ``memberof``
overlay, optionally TLS), starts ``/usr/sbin/slapd`` in the foreground on a
free loopback port, seeds it with ``ldapadd`` (so the overlay maintains
``memberOf``), and stops it by PID. A system slapd that the Debian package may
have started on port 389 is never touched.

The directory, under ``dc=example,dc=org``:

- ``cn=admin`` (rootdn, password ``admin-secret``) and ``cn=reader`` (the
  service account, password ``reader-secret``); the service account and
  anonymous clients read everything but passwords;
- users ``alice`` (``alice-pw``, in ``devs`` and ``ops``), ``bob`` (``bob-pw``,
  in no group), ``carol`` (``carol-pw``, in ``devs``) under ``ou=people``;
- groups ``devs`` and ``ops`` (``groupOfNames``) under ``ou=groups``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SLAPD = Path("/usr/sbin/slapd")
SUFFIX = "dc=example,dc=org"
ADMIN_DN = f"cn=admin,{SUFFIX}"
ADMIN_PASSWORD = "admin-secret"
READER_DN = f"cn=reader,{SUFFIX}"
READER_PASSWORD = "reader-secret"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
USERS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw"}
MEMBERS = {"devs": ("alice", "carol"), "ops": ("alice",)}

_SCHEMA = "/etc/ldap/schema"


def available() -> bool:
    """True when slapd and ldapadd are installed (``make system-deps``)."""
    return SLAPD.exists() and shutil.which("ldapadd") is not None


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for slapd's ``TLSCertificate*`` directives."""

    cert: Path
    key: Path
    ca: Path


@dataclass
class Slapd:
    """One running server. ``log`` holds its ``stats`` log (connections, BINDs, SEARCHes)."""

    dir: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.dir / "slapd.log"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def binds(self) -> list[str]:
        """The DN of every BIND request the server has logged so far, in order."""
        return re.findall(r' BIND dn="([^"]*)" method=', self.log_text())

    def start(self) -> None:
        log = self.log.open("ab")
        self.process = subprocess.Popen(
            [str(SLAPD), "-f", str(self.dir / "slapd.conf"), "-h", f"{self.url}/", "-d", "stats"],
            stdout=log,
            stderr=log,
        )
        log.close()
        _wait_for_port(self.port, self.process)

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None


@contextmanager
def running_slapd(directory: Path, *, tls: TlsFiles | None = None) -> Iterator[Slapd]:
    """Configure, start and seed a slapd in ``directory``; stop it on exit."""
    (directory / "db").mkdir(parents=True)
    (directory / "slapd.conf").write_text(_config(directory, tls))
    (directory / "seed.ldif").write_text(_seed_ldif())
    server = Slapd(directory, free_port())
    server.start()
    try:
        _ldapadd(server, directory / "seed.ldif")
        yield server
    finally:
        server.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"slapd exited with status {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            time.sleep(0.02)
        else:
            return
    raise RuntimeError("slapd did not start listening")


def _ldapadd(server: Slapd, ldif: Path) -> None:
    subprocess.run(
        ["ldapadd", "-x", "-H", server.url, "-D", ADMIN_DN, "-w", ADMIN_PASSWORD, "-f", str(ldif)],
        check=True,
        capture_output=True,
        timeout=10,
    )


def _config(directory: Path, tls: TlsFiles | None) -> str:
    schemas = "".join(
        f"include {_SCHEMA}/{name}.schema\n" for name in ("core", "cosine", "inetorgperson", "nis")
    )
    tls_lines = (
        ""
        if tls is None
        else f"TLSCACertificateFile {tls.ca}\nTLSCertificateFile {tls.cert}\n"
        f"TLSCertificateKeyFile {tls.key}\n"
    )
    return f"""{schemas}
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
pidfile {directory}/slapd.pid
argsfile {directory}/slapd.args
{tls_lines}
database mdb
maxsize 16777216
suffix "{SUFFIX}"
rootdn "{ADMIN_DN}"
rootpw {ADMIN_PASSWORD}
directory {directory}/db
overlay memberof

access to attrs=userPassword
    by anonymous auth
    by * none
access to *
    by dn.exact="{READER_DN}" read
    by self read
    by anonymous read
    by * none
"""


def _seed_ldif() -> str:
    entries = [
        f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\n"
        "o: Example\n",
        f"dn: {READER_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n"
        f"cn: reader\nuserPassword: {READER_PASSWORD}\n",
        f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n",
        f"dn: {GROUPS}\nobjectClass: organizationalUnit\nou: groups\n",
    ]
    for name, password in USERS.items():
        entries.append(
            f"dn: uid={name},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: {name}\n"
            f"cn: {name.title()}\nsn: {name.title()}\nuserPassword: {password}\n"
        )
    for group, members in MEMBERS.items():
        lines = "".join(f"member: uid={m},{PEOPLE}\n" for m in members)
        entries.append(f"dn: cn={group},{GROUPS}\nobjectClass: groupOfNames\ncn: {group}\n{lines}")
    return "\n".join(entries)
