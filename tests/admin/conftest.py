"""Fixtures of the admin layer tests: the store's frozen clock, the migrated ``db``."""

from __future__ import annotations

import pytest

from regauth.admin import Actor, UnitOfWork
from regauth.store import Database
from tests.store.conftest import FrozenClock, anyio_backend, clock, db_path

__all__ = ["anyio_backend", "clock", "db_path"]


@pytest.fixture
def console() -> Actor:
    return Actor.console("root")


@pytest.fixture
def uow(db: Database, clock: FrozenClock) -> UnitOfWork:
    return UnitOfWork(db, clock)
