"""A private PostgreSQL cluster for the tests: ``initdb`` + ``pg_ctl`` on a free loopback port.

Debian's ``postgresql`` package provides the binaries (``make test`` installs
it when missing). PostgreSQL refuses to run as root, so under root the cluster
belongs to a dedicated OS user (the package's ``postgres`` account, created
with ``useradd`` if absent) and every server command runs through ``runuser``.
The cluster lives in a fresh directory under ``/dev/shm`` when that has room,
else under ``/tmp`` (pytest's own temporary directories are private to root),
and trusts loopback connections; it runs with ``fsync=off``: a crashed test
cluster is thrown away, never recovered.

:meth:`PostgresCluster.create_database` gives each test its own empty
database (or a copy of a template), :meth:`PostgresCluster.drop_database`
drops it after the test; :meth:`PostgresCluster.stop` stops the server by the
PID in ``postmaster.pid`` and removes the directory.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")
OS_USER = "postgres"
DB_USER = "regauth"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


class PostgresMissing(RuntimeError):
    """The PostgreSQL binaries are not installed."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _ensure_os_user() -> str | None:
    """The account that owns the cluster, or None when we are not root (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(OS_USER)
    except KeyError:
        added = subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", OS_USER],
            check=False,
            capture_output=True,
        )
        if added.returncode != 0:
            try:  # a parallel test worker may have added it a moment ago
                pwd.getpwnam(OS_USER)
            except KeyError:
                raise subprocess.CalledProcessError(
                    added.returncode, added.args, added.stdout, added.stderr
                ) from None
    return OS_USER


@dataclass
class PostgresCluster:
    directory: Path
    port: int
    os_user: str | None

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def log(self) -> Path:
        return self.directory / "postgres.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{DB_USER}@127.0.0.1:{self.port}/{database}"

    @classmethod
    def start(cls) -> PostgresCluster:
        for binary in ("initdb", "pg_ctl", "postgres"):
            if not (PG_BIN / binary).is_file():
                raise PostgresMissing(
                    f"{PG_BIN / binary} is missing: `make test` installs it "
                    "(apt-get install postgresql)"
                )
        os_user = _ensure_os_user()
        directory = Path(tempfile.mkdtemp(prefix="regauth-pg-", dir=_parent_directory()))
        if os_user is not None:
            entry = pwd.getpwnam(os_user)
            os.chown(directory, entry.pw_uid, entry.pw_gid)
        cluster = cls(directory, _free_port(), os_user)
        try:
            cluster._initdb()
            cluster._pg_ctl_start()
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _run(self, *argv: str | Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        command = [str(a) for a in argv]
        if self.os_user is not None:
            command = ["runuser", "-u", self.os_user, "--", *command]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} exited with {result.returncode}:\n"
                f"{result.stdout}\n{result.stderr}\n{self._log_tail()}"
            )
        return result

    def _initdb(self) -> None:
        self._run(
            PG_BIN / "initdb",
            "--pgdata",
            self.data,
            "--username",
            DB_USER,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        )

    def _pg_ctl_start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self.directory} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        self._run(
            PG_BIN / "pg_ctl",
            "start",
            "--pgdata",
            self.data,
            "--log",
            self.log,
            "--options",
            options,
            "--wait",
            "--timeout",
            str(int(START_TIMEOUT)),
            timeout=START_TIMEOUT + 10,
        )

    def create_database(self, prefix: str = "t", template: str = "template1") -> str:
        """A new database copied from ``template`` (empty by default); returns its URL."""
        import psycopg

        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        dsn = f"host=127.0.0.1 port={self.port} user={DB_USER} dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as conn:
            # Names are ours (hex only). FILE_COPY: with fsync off its checkpoint is cheap,
            # and it is about twice as fast as the default WAL_LOG for small databases.
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database made by :meth:`create_database` (connections to it are ended).
        Best effort: whatever is left goes with the cluster."""
        import psycopg

        name = url.rsplit("/", 1)[1]
        dsn = f"host=127.0.0.1 port={self.port} user={DB_USER} dbname=postgres"
        with contextlib.suppress(psycopg.Error), psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def pid(self) -> int | None:
        try:
            first = (self.data / "postmaster.pid").read_text().splitlines()[0]
        except (OSError, IndexError):
            return None
        return int(first)

    def stop(self) -> None:
        """SIGQUIT (PostgreSQL's immediate shutdown: nothing here is worth a checkpoint)
        by PID, wait, then remove the files."""
        pid = self.pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGQUIT)
            deadline = time.monotonic() + STOP_TIMEOUT
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.05)
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.directory, ignore_errors=True)

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return "(no server log)"


# Memory, when there is room: every test copies a database (megabytes of small files), and
# on some disks creating and unlinking them costs more than the tests themselves.
SHM = Path("/dev/shm")
SHM_MIN_FREE = 2 * 2**30


def _parent_directory() -> str:
    with contextlib.suppress(OSError):
        stats = os.statvfs(SHM)
        if stats.f_bavail * stats.f_frsize >= SHM_MIN_FREE and os.access(SHM, os.W_OK):
            return str(SHM)
    return "/tmp"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie child of ours is gone for every purpose that matters here.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0]
    except (OSError, IndexError):
        return False
    return state != "Z"
