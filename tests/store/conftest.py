"""Fixtures for the store tests: a frozen clock and the stores on the migrated ``db``.

Every repository test runs twice (``db`` of ``tests/conftest.py``): on a fresh
SQLite file and on a fresh database of the session's private PostgreSQL
cluster (``tests/postgres.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

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


@pytest.fixture
def users(db: Database, clock: FrozenClock) -> UserStore:
    return UserStore(db, clock)


@pytest.fixture
def groups(db: Database, clock: FrozenClock) -> GroupStore:
    return GroupStore(db, clock)


@pytest.fixture
def tokens(db: Database, clock: FrozenClock) -> TokenStore:
    return TokenStore(db, clock)
