"""The outbox's database tests run on SQLite and on the session's PostgreSQL cluster
(``db`` of ``tests/conftest.py``); ``pg_events_db`` is the PostgreSQL side alone."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from regauth.store import Database
from tests.postgres import PostgresCluster


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def pg_events_db(
    postgres: PostgresCluster, postgres_template: str
) -> AsyncIterator[Database]:
    url = postgres.create_database("events", template=postgres_template)
    database = Database(url)
    database.migrate()
    try:
        yield database
    finally:
        await database.dispose()
        postgres.drop_database(url)
