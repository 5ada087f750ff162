"""The key store in the database (``keys.store = "database"``) on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from regauth.errors import ConfigError
from regauth.keys import Algorithm, KeyStore
from regauth.keys.sealing import KeyEncryptionKey
from regauth.store import Database
from regauth.store.key_material import DatabaseBlobs
from regauth.store.models_keys import KeyMaterial
from tests.store.conftest import FrozenClock

GRACE = timedelta(minutes=6)
KEK = KeyEncryptionKey.parse(KeyEncryptionKey.generate_text())


@pytest.fixture
def migrated_url(db_url: str) -> str:
    Database(db_url).migrate()
    return db_url


def _store(url: str, clock: FrozenClock, kek: KeyEncryptionKey = KEK) -> KeyStore:
    return KeyStore.over(DatabaseBlobs(Database(url), kek, clock), "the test database", clock)


def _rows(store: KeyStore) -> dict[str, bytes]:
    blobs = store._files.blobs
    assert isinstance(blobs, DatabaseBlobs)
    with blobs.engine.connect() as conn:
        rows = conn.execute(select(KeyMaterial.name, KeyMaterial.data)).all()
    return {name: bytes(data) for name, data in rows}


def test_generate_rotate_and_load_from_another_replica(
    migrated_url: str, clock: FrozenClock
) -> None:
    writer, reader = _store(migrated_url, clock), _store(migrated_url, clock)
    try:
        assert not reader.exists()
        assert reader.state_token() == ""
        writer.create_ca(Algorithm.ES256)
        first = writer.generate(Algorithm.ES256, grace=GRACE)
        assert reader.exists() and reader.has_ca()
        token = reader.state_token()
        ring = reader.load()
        assert ring.current.key_id == first and ring.ca is not None
        clock.advance(60)
        second = writer.rotate(grace=GRACE)
        assert reader.state_token() != token
        ring = reader.load()
        assert ring.current.key_id == second
        assert [k.key_id for k in ring.previous] == [first]
        assert ring.bundle_pem() == writer.load().bundle_pem()  # the CA: registries unchanged
        clock.advance(GRACE.total_seconds() + 1)
        assert reader.load().previous == ()
        writer.rotate(grace=GRACE)  # commits the pruned state and deletes the old rows
        assert f"signing/{first}.key" not in _rows(writer)
    finally:
        writer.close()
        reader.close()


def test_every_row_is_sealed(migrated_url: str, clock: FrozenClock) -> None:
    store = _store(migrated_url, clock)
    try:
        store.create_ca(Algorithm.ES256)
        key_id = store.generate(Algorithm.ES256)
        rows = _rows(store)
    finally:
        store.close()
    assert set(rows) == {
        "keyring.json",
        "ca.key",
        "ca.crt",
        f"signing/{key_id}.key",
        f"signing/{key_id}.crt",
    }
    for data in rows.values():
        assert data.startswith(b"RK1")
        assert b"PRIVATE KEY" not in data and b"CERTIFICATE" not in data and b"current" not in data


def test_another_kek_cannot_load_and_says_so(migrated_url: str, clock: FrozenClock) -> None:
    store = _store(migrated_url, clock)
    other = _store(migrated_url, clock, KeyEncryptionKey.parse(KeyEncryptionKey.generate_text()))
    try:
        store.generate(Algorithm.ES256)
        with pytest.raises(ConfigError, match="another key-encryption key") as caught:
            other.load()
        assert "PRIVATE" not in str(caught.value)
    finally:
        store.close()
        other.close()


def test_a_row_copied_under_another_name_is_refused(migrated_url: str, clock: FrozenClock) -> None:
    store = _store(migrated_url, clock)
    try:
        key_id = store.generate(Algorithm.ES256)
        rows = _rows(store)
        blobs = store._files.blobs
        assert isinstance(blobs, DatabaseBlobs)
        with blobs.engine.begin() as conn:
            name = f"signing/{key_id}.crt"
            forged = rows["keyring.json"]
            conn.execute(update(KeyMaterial).where(KeyMaterial.name == name).values(data=forged))
        with pytest.raises(ConfigError, match="corrupt"):
            store.load()
    finally:
        store.close()


def test_rotate_if_due_runs_once_across_replicas(migrated_url: str, clock: FrozenClock) -> None:
    first = _store(migrated_url, clock)
    first.generate(Algorithm.ES256)
    clock.advance(86400)
    due = clock.now()
    replicas = [_store(migrated_url, clock) for _ in range(4)]
    results: list[bool] = []
    barrier = threading.Barrier(len(replicas))

    def tick(store: KeyStore) -> None:
        barrier.wait()
        results.append(store.rotate_if_due(due, grace=GRACE))

    threads = [threading.Thread(target=tick, args=(r,)) for r in replicas]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(results) == [False, False, False, True]
        assert len(first.load().previous) == 1
    finally:
        for store in [first, *replicas]:
            store.close()


def test_a_failed_write_inside_the_lock_commits_nothing(
    migrated_url: str, clock: FrozenClock
) -> None:
    store = _store(migrated_url, clock)
    try:
        key_id = store.generate(Algorithm.ES256)
        token = store.state_token()
        blobs = store._files.blobs

        def crash_mid_rotation() -> None:
            with blobs.locked():
                blobs.write("keyring.json", b"{}", private=False)
                raise RuntimeError("crash mid-rotation")

        with pytest.raises(RuntimeError):
            crash_mid_rotation()
        assert store.state_token() == token
        assert store.load().current.key_id == key_id
    finally:
        store.close()


def test_unmigrated_database_is_an_os_error_without_details(
    db_url: str, clock: FrozenClock
) -> None:
    store = _store(db_url, clock)
    try:
        with pytest.raises(OSError, match="database error") as caught:
            store.state_token()
        assert "SELECT" not in str(caught.value)
        with pytest.raises(ConfigError, match="cannot read"):
            store.load()
    finally:
        store.close()
