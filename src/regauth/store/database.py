"""The database handle: engine, sessions, migrations.

``Database(url)`` takes the user-facing URL, ``sqlite:///path.db`` or
``postgresql+psycopg://user:pw@host:port/db`` (plain ``postgresql://`` is
read as psycopg). At run time the engine is async (``sqlite+aiosqlite``, or
psycopg 3 which is async-capable); :meth:`Database.migrate` uses a short-lived
synchronous engine on the same database. Constructing a ``Database`` does no
I/O. An unusable URL raises :class:`~regauth.errors.ConfigError` that never
echoes the password.

Every SQLite connection runs with WAL journalling (``synchronous=NORMAL``), a
5 s busy timeout and enforced foreign keys (the cascades of ``memberships``
and ``tokens`` rely on them). Statement parameters are hidden from SQLAlchemy's error messages,
so password and token hashes never reach a log through an exception.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from regauth.errors import ConfigError

MIGRATIONS = Path(__file__).parent / "migrations"
# Any constant works; it only has to be the same in every regauth process.
_PG_MIGRATION_LOCK = 0x72656761757468
# synchronous=NORMAL: in WAL mode a commit never corrupts the database; only the
# last commits before a power cut (not a process crash) may be lost. FULL costs
# one fsync per commit, which dominated batched audit inserts.
_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA busy_timeout=5000",
    "PRAGMA synchronous=NORMAL",
)


class Database:
    """One database, shared by every repository of a process."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self._url = url
        self._parsed = _parse(url)
        self._async_url, self._sync_url = _driver_urls(self._parsed)
        if self.dialect == "sqlite":
            engine = create_async_engine(self._async_url, echo=echo, hide_parameters=True)
            event.listen(engine.sync_engine, "connect", _sqlite_runtime_pragmas)
        else:
            engine = create_async_engine(
                self._async_url,
                echo=echo,
                hide_parameters=True,
                pool_pre_ping=True,
                pool_size=5,
                max_overflow=5,
            )
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    @property
    def url(self) -> str:
        """The URL as configured (it may contain a password: log :meth:`redacted_url`)."""
        return self._url

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._parsed.get_backend_name()

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    def redacted_url(self) -> str:
        """The URL with its password replaced by ``***``, for logs and errors."""
        return self._parsed.render_as_string(hide_password=True)

    def session(self) -> AsyncSession:
        """A new session; use it as ``async with db.session() as s, s.begin():``."""
        return self._sessions()

    def exists(self) -> bool:
        """False for a SQLite file that is not there yet (a server database always exists)."""
        if self.dialect != "sqlite":
            return True
        return Path(self._parsed.database or "").is_file()

    async def ping(self) -> None:
        """Round-trip ``SELECT 1``; raises the driver's error when the database is down."""
        async with self._engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self._engine.dispose()

    def migrate(self, revision: str = "head") -> None:
        """Upgrade the schema to ``revision``, the newest by default (a no-op when current).

        Synchronous, meant for start-up and the CLI. Concurrent callers are
        serialised (SQLite ``BEGIN IMMEDIATE``, a PostgreSQL advisory lock), so
        several processes may start at once.
        """
        # Imported here: Alembic is only needed when migrating, not in serving workers.
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
        config.set_main_option("path_separator", "os")
        engine = self._migration_engine()
        try:
            with engine.begin() as conn:
                if self.dialect == "postgresql":
                    conn.execute(
                        text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK}
                    )
                config.attributes["connection"] = conn
                command.upgrade(config, revision)
        finally:
            engine.dispose()

    def _migration_engine(self) -> Engine:
        engine = create_engine(self._sync_url, poolclass=NullPool, hide_parameters=True)
        if self.dialect == "sqlite":
            database = self._parsed.database or ""
            Path(database).parent.mkdir(parents=True, exist_ok=True)
            event.listen(engine, "connect", _sqlite_migration_connect)
            event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine


def _parse(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError("not a database URL: use sqlite:///… or postgresql+psycopg://…") from None
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    redacted = parsed.render_as_string(hide_password=True)
    if backend == "sqlite":
        if driver not in ("pysqlite", "aiosqlite"):
            raise ConfigError(f"unsupported SQLite driver in {redacted}")
        if parsed.database in (None, "", ":memory:"):
            raise ConfigError(f"in-memory SQLite cannot be shared; give a file path: {redacted}")
        return parsed
    if backend == "postgresql":
        if "+" in parsed.drivername and driver != "psycopg":
            raise ConfigError(f"use postgresql+psycopg:// (psycopg 3), not {parsed.drivername}")
        return parsed.set(drivername="postgresql+psycopg")
    raise ConfigError(f"unsupported database {backend!r}: use sqlite:/// or postgresql+psycopg://")


def _driver_urls(parsed: URL) -> tuple[URL, URL]:
    """The async run-time URL and the sync migration URL for one database."""
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite"), parsed.set(drivername="sqlite+pysqlite")
    return parsed, parsed


def _sqlite_runtime_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for pragma in (*_SQLITE_PRAGMAS, "PRAGMA foreign_keys=ON"):
            cursor.execute(pragma)
    finally:
        cursor.close()


def _sqlite_migration_connect(dbapi_connection: Any, _record: Any) -> None:
    # Foreign keys stay OFF while migrating: SQLite batch migrations copy and
    # drop tables, and a DROP with enforcement on would fire ON DELETE CASCADE.
    # isolation_level=None hands transaction control to the "begin" listener,
    # so DDL is transactional too.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def _sqlite_begin_immediate(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")
