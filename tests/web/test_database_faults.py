"""The database held or gone: successes do not wait for it; failures are 503, reason logged."""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.conftest import FrozenClock, Instance, make_instance
from tests.web.test_authorization import new_pat
from tests.web.test_token_get import SERVICE, basic, get_token
from tests.web.test_token_post import post


@pytest.fixture
def instance(tmp_path: Path, clock: FrozenClock) -> Instance:
    """SQLite only: a held write lock and a vanished file are SQLite's faults
    (PostgreSQL's outage is a refused connection, tested with the replicas)."""
    inst = make_instance(tmp_path, clock)
    inst.add_user("alice", "alice-pw")
    inst.add_user("bob", "bob-pw", ("dev",))
    inst.add_user("admin", "admin-pw")
    return inst


def _database_file(instance: Instance) -> Path:
    return Path(instance.settings.database_url.removeprefix("sqlite:///"))


def test_pat_and_refresh_succeed_while_another_connection_holds_the_write_lock(
    client: TestClient, instance: Instance
) -> None:
    refresh = get_token(client, auth=basic("alice", "alice-pw"), offline_token="true").json()[
        "refresh_token"
    ]
    secret = new_pat(instance, "alice")
    holder = sqlite3.connect(_database_file(instance), isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # the write lock, as a long migration would hold it
        started = time.monotonic()
        assert post(client, grant_type="refresh_token", refresh_token=refresh).status_code == 200
        assert get_token(client, auth=basic("alice", secret)).status_code == 200
        assert get_token(client, auth=basic("alice", "alice-pw")).status_code == 200
        assert time.monotonic() - started < 3  # none waited for the lock (5 s busy timeout)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_missing_database_is_503_not_500(
    tmp_path: Path, instance: Instance, caplog: pytest.LogCaptureFixture
) -> None:
    with instance.client() as client:
        _database_file(instance).unlink()  # gone (a new empty file has no tables)
        for suffix in ("-wal", "-shm"):
            Path(str(_database_file(instance)) + suffix).unlink(missing_ok=True)
        caplog.set_level(logging.ERROR, "regauth.web")
        r = client.get("/token", params={"service": SERVICE}, headers=basic("alice", "alice-pw"))
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "1"
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "auth.backend_unavailable"
    assert "no such table" not in r.text  # the reason goes to the log, not to the client
    line = next(m for m in (rec.getMessage() for rec in caplog.records) if "unavailable" in m)
    assert "OperationalError: no such table" in line
    assert "alice-pw" not in line
