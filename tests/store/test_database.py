"""Database: URL mapping, redaction, SQLite pragmas, migrations."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from regauth.errors import ConfigError
from regauth.store import Database
from regauth.store.database import MIGRATIONS
from regauth.store.models import Base

pytestmark = pytest.mark.anyio


async def test_postgresql_url_stays_psycopg_and_is_redacted() -> None:
    url = "postgresql+psycopg://regauth:s3cr3t@db.example:5432/regauth"
    db = Database(url)
    try:
        assert db.engine.url.drivername == "postgresql+psycopg"
        assert db.dialect == "postgresql"
        assert db.url == url
        assert "s3cr3t" not in db.redacted_url()
        assert db.redacted_url() == "postgresql+psycopg://regauth:***@db.example:5432/regauth"
    finally:
        await db.dispose()


async def test_plain_postgresql_url_means_psycopg() -> None:
    db = Database("postgresql://u:pw@localhost/regauth")
    try:
        assert db.engine.url.drivername == "postgresql+psycopg"
    finally:
        await db.dispose()


async def test_sqlite_runs_on_aiosqlite(db_path: Path) -> None:
    db = Database(f"sqlite:///{db_path}")
    try:
        assert db.engine.url.drivername == "sqlite+aiosqlite"
        assert db.redacted_url() == f"sqlite:///{db_path}"
    finally:
        await db.dispose()


@pytest.mark.parametrize(
    "url",
    [
        "mysql://u:hunter2@localhost/db",
        "postgresql+asyncpg://u:hunter2@localhost/db",
        "sqlite://",
        "sqlite:///:memory:",
        "not a url hunter2",
    ],
)
def test_unusable_urls_are_config_errors_without_password(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Database(url)
    assert "hunter2" not in str(caught.value)


async def test_migrate_creates_parent_dir_and_is_idempotent(db_path: Path) -> None:
    db = Database(f"sqlite:///{db_path}")
    try:
        db.migrate()
        db.migrate()
        await db.ping()
    finally:
        await db.dispose()
    with closing(sqlite3.connect(db_path)) as conn:
        versions = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    assert versions == [(_head(),)]


def _head() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def test_upgrades_keep_existing_rows(db_url: str) -> None:
    db = Database(db_url)
    db.migrate("0001")
    engine = db.sync_engine()
    try:
        with engine.begin() as conn:
            for statement in (
                "INSERT INTO users (id, name, created_at) VALUES (1, 'alice', '2025-01-01')",
                "INSERT INTO groups (id, name, created_at) VALUES (1, 'devs', '2025-01-01')",
                "INSERT INTO memberships VALUES (1, 1)",
                "INSERT INTO tokens (id, user_id, kind, secret_hash, created_at)"
                " VALUES ('t1', 1, 'pat', 'h', '2025-01-01')",
            ):
                conn.execute(text(statement))
        db.migrate()
        with engine.connect() as conn:
            counts = [
                conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()  # noqa: S608
                for table in ("users", "groups", "memberships", "tokens")
            ]
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()
    assert counts == [1] * 4
    assert version == _head()


async def test_concurrent_migrations_are_serialised(db_url: str) -> None:
    """Replicas starting together all migrate: one upgrades, the others find it done."""
    import threading

    errors: list[BaseException] = []

    def migrate() -> None:
        try:
            Database(db_url).migrate()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=migrate) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    db = Database(db_url)
    try:
        async with db.engine.connect() as conn:
            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
    finally:
        await db.dispose()
    assert version == [(_head(),)]


async def test_sqlite_connections_enforce_foreign_keys_and_wal(db_path: Path) -> None:
    db = Database(f"sqlite:///{db_path}")
    try:
        db.migrate()
        async with db.engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == 5000
            assert (await conn.execute(text("PRAGMA synchronous"))).scalar() == 1  # NORMAL
    finally:
        await db.dispose()


def _modeled(obj: object, name: str | None, kind: str, reflected: bool, _other: object) -> bool:
    # Tables only a later revision knows about may not have models yet; every
    # table that does have a model must match its migrations exactly.
    return not (kind == "table" and reflected and name not in Base.metadata.tables)


def test_migration_matches_models(db_url: str) -> None:
    db = Database(db_url)
    db.migrate()
    engine = db.sync_engine()
    try:
        with engine.connect() as conn:
            opts = {"compare_type": True, "include_object": _modeled}
            context = MigrationContext.configure(conn, opts=opts)
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()
