"""The outbox's database tests run on SQLite and on a private PostgreSQL cluster.

(``tests/postgres.py`` is the cluster of the PostgreSQL test suite; once that
suite's ``migrated_db_url`` fixture is in, ``events_db`` can use it instead.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from regauth.store import Database
from tests.postgres import PostgresCluster, PostgresMissing


@pytest.fixture(scope="session")
def events_postgres() -> Iterator[PostgresCluster]:
    try:
        cluster = PostgresCluster.start()
    except PostgresMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["sqlite", "postgresql"])
async def events_db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "postgresql":
        cluster: PostgresCluster = request.getfixturevalue("events_postgres")
        url = cluster.create_database("events")
    else:
        url = f"sqlite:///{tmp_path / 'events.db'}"
    async for database in _migrated(url):
        yield database
    if request.param == "postgresql":
        cluster.drop_database(url)


@pytest.fixture
async def pg_events_db(events_postgres: PostgresCluster) -> AsyncIterator[Database]:
    url = events_postgres.create_database("events")
    async for database in _migrated(url):
        yield database
    events_postgres.drop_database(url)


async def _migrated(url: str) -> AsyncIterator[Database]:
    database = Database(url)
    database.migrate()
    yield database
    await database.dispose()
