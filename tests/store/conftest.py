"""Fixtures for the store tests: a frozen clock and a migrated database.

Every repository test runs on a fresh SQLite file, and also on PostgreSQL
when ``REGAUTH_TEST_POSTGRES_URL`` names a disposable database (its tables
are dropped before each test).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from regauth.store import Database, GroupStore, TokenStore, UserStore

START = datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


@dataclass
class FrozenClock:
    at: datetime = field(default=START)

    def now(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "regauth.db"


POSTGRES_URL = os.environ.get("REGAUTH_TEST_POSTGRES_URL", "")


def _reset_postgres(url: str) -> None:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"] if POSTGRES_URL else ["sqlite"])
async def db(request: pytest.FixtureRequest, db_path: Path) -> AsyncIterator[Database]:
    if request.param == "postgresql":
        _reset_postgres(POSTGRES_URL)
        database = Database(POSTGRES_URL)
    else:
        database = Database(f"sqlite:///{db_path}")
    database.migrate()
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def users(db: Database, clock: FrozenClock) -> UserStore:
    return UserStore(db, clock)


@pytest.fixture
def groups(db: Database, clock: FrozenClock) -> GroupStore:
    return GroupStore(db, clock)


@pytest.fixture
def tokens(db: Database, clock: FrozenClock) -> TokenStore:
    return TokenStore(db, clock)
