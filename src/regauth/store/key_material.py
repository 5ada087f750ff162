"""The key store in the database: sealed blobs in ``key_material``, one lock for all replicas.

:class:`DatabaseBlobs` implements the key store's
:class:`~regauth.keys._blobs.Blobs` port over the ``key_material`` table, for
replicas that share nothing but the database (``keys.store = "database"``).
Every blob is sealed with the key-encryption key (:mod:`regauth.keys.sealing`)
before it is written and opened after it is read.

``locked()`` holds one transaction for the whole block: on PostgreSQL it takes
a transaction-level advisory lock, on SQLite ``BEGIN IMMEDIATE`` (the write
lock). Every read and write made in the block by the same thread goes through
that transaction, so a rotation is committed as a whole or not at all, and two
replicas running ``keys rotate`` or the cron rotation at once are serialised —
the second sees the first one's key (``KeyStore.rotate_if_due``) and does
nothing. Outside ``locked()`` each call is one short read.

The store is synchronous (the key store is used from worker threads and the
CLI) and uses its own small connection pool. A database error surfaces as an
:class:`OSError` (``EIO``) naming the blob and the error class only, which
the key store reports as unreadable key material: a running server keeps its
current keys.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import threading
from collections.abc import Iterator
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, delete, event, insert, select, text
from sqlalchemy.exc import SQLAlchemyError

from regauth.keys.sealing import KeyEncryptionKey
from regauth.ports import Clock
from regauth.store.database import Database
from regauth.store.models_keys import KeyMaterial

# Any constant works; it only has to be the same in every regauth process.
_PG_KEYS_LOCK = 0x6B657973
_IMMEDIATE = "regauth_sqlite_immediate"
_table = cast(Table, KeyMaterial.__table__)


class DatabaseBlobs:
    """Key-store blobs in the ``key_material`` table, sealed with ``kek``."""

    def __init__(self, db: Database, kek: KeyEncryptionKey, clock: Clock) -> None:
        self._dialect = db.dialect
        self._engine = db.sync_engine()
        if self._dialect == "sqlite":
            event.listen(self._engine, "connect", _sqlite_manual_transactions)
            event.listen(self._engine, "begin", _sqlite_begin)
        self._kek = kek
        self._clock = clock
        self._held = threading.local()
        self._redacted = db.redacted_url()

    @property
    def engine(self) -> Engine:
        return self._engine

    def where(self, name: str) -> str:
        return f"key_material {name!r} in {self._redacted}"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        if getattr(self._held, "conn", None) is not None:
            yield  # already ours: one transaction for the outermost block
            return
        with self._errors("the key lock"):
            conn = self._engine.connect().execution_options(**{_IMMEDIATE: True})
            transaction = conn.begin()
            if self._dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_KEYS_LOCK})
        self._held.conn = conn
        try:
            yield
            with self._errors("the key lock"):
                transaction.commit()
        finally:
            self._held.conn = None
            if transaction.is_active:
                transaction.rollback()
            conn.close()

    def exists(self, name: str) -> bool:
        return self._select(name) is not None

    def read(self, name: str) -> bytes:
        sealed = self._select(name)
        if sealed is None:
            raise FileNotFoundError(errno.ENOENT, "not in the database", self.where(name))
        return self._kek.open(name, sealed)

    def write(self, name: str, data: bytes, *, private: bool) -> None:
        row = {"name": name, "data": self._kek.seal(name, data), "updated_at": self._clock.now()}
        with self._connection(name, write=True) as conn:
            conn.execute(delete(_table).where(_table.c.name == name))
            conn.execute(insert(_table).values(row))

    def remove(self, *names: str) -> None:
        if names:
            with self._connection(names[0], write=True) as conn:
                conn.execute(delete(_table).where(_table.c.name.in_(names)))

    def stamp(self, name: str) -> str:
        sealed = self._select(name)
        return "" if sealed is None else hashlib.sha256(sealed).hexdigest()[:32]

    def close(self) -> None:
        self._engine.dispose()

    def _select(self, name: str) -> bytes | None:
        with self._connection(name, write=False) as conn:
            value = conn.execute(select(_table.c.data).where(_table.c.name == name)).scalar()
        return None if value is None else bytes(value)

    @contextlib.contextmanager
    def _connection(self, name: str, *, write: bool) -> Iterator[Connection]:
        held: Connection | None = getattr(self._held, "conn", None)
        with self._errors(self.where(name)):
            if held is not None:
                yield held
            elif write:
                with self._engine.begin() as conn:
                    yield conn
            else:
                with self._engine.connect() as conn:
                    yield conn

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as exc:
            # The class only: driver messages can quote statements and their values.
            message = f"database error ({type(exc).__name__})"
            raise OSError(errno.EIO, message, what) from None


def _sqlite_manual_transactions(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling cannot say BEGIN IMMEDIATE; take it over.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA busy_timeout=10000")
    finally:
        cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get(_IMMEDIATE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
