"""KeyStore: generation, stable CA, rotation with grace, import, files and reload tokens."""

from __future__ import annotations

import json
import stat
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from regauth.errors import ConfigError
from regauth.keys import (
    Algorithm,
    KeyStore,
    jwk_thumbprint,
    libtrust_kid,
    load_certificates,
    make_leaf,
)
from tests.keys.conftest import T0, FrozenClock

GRACE = timedelta(minutes=6)
PASSPHRASE = b"store passphrase"
PEM = serialization.Encoding.PEM


def _pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, passphrase: bytes | None) -> bytes:
    encryption: serialization.KeySerializationEncryption = serialization.NoEncryption()
    if passphrase is not None:
        encryption = serialization.BestAvailableEncryption(passphrase)
    return key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, encryption)


@pytest.fixture
def store(tmp_path: Path, clock: FrozenClock) -> KeyStore:
    return KeyStore(tmp_path / "keys", clock)


def test_empty_store(store: KeyStore) -> None:
    assert not store.exists()
    assert not store.has_ca()
    assert store.state_token() == ""
    with pytest.raises(ConfigError, match="no signing key"):
        store.load()
    with pytest.raises(ConfigError, match="no signing key"):
        store.rotate(grace=GRACE)


def test_self_signed_mode(store: KeyStore) -> None:
    key_id = store.generate(Algorithm.ES256)
    assert key_id.startswith("20261123T114800Z-")
    assert store.exists()
    ring = store.load()
    current = ring.current
    assert current.key_id == key_id
    assert current.alg is Algorithm.ES256
    assert ring.ca is None
    assert ring.previous == ()
    assert current.valid_until is None
    assert current.created_at == T0
    assert len(current.chain) == len(current.x5c) == 1
    assert current.kid == libtrust_kid(current.public_key)
    current.certificate.verify_directly_issued_by(current.certificate)
    assert ring.bundle_pem() == current.certificate.public_bytes(PEM)


def test_ca_mode_chain(store: KeyStore) -> None:
    ca = store.create_ca(Algorithm.ES384)
    assert store.has_ca()
    store.generate(Algorithm.ES256)
    ring = store.load()
    assert ring.ca == ca
    assert len(ring.current.x5c) == 2
    leaf, chain_ca = ring.current.chain
    assert chain_ca == ca
    leaf.verify_directly_issued_by(ca)
    assert ring.bundle_pem() == ca.public_bytes(PEM)


def test_create_ca_refuses_to_replace_unless_forced(store: KeyStore) -> None:
    first = store.create_ca(Algorithm.ES256)
    with pytest.raises(ConfigError, match="already exists"):
        store.create_ca(Algorithm.ES256)
    store.generate(Algorithm.ES256)
    token = store.state_token()
    second = store.create_ca(Algorithm.ES256, force=True)
    assert second != first
    assert store.state_token() != token
    ring = store.load()
    assert ring.ca == second
    # The current leaf was issued by the old CA: it stays trusted via its own cert.
    assert ring.current.chain == (ring.current.certificate,)
    assert load_certificates(ring.bundle_pem()) == [second, ring.current.certificate]


def test_rotation_self_signed_keeps_old_key_until_grace_ends(
    store: KeyStore, clock: FrozenClock
) -> None:
    old_id = store.generate(Algorithm.ES256)
    old = store.load().current
    clock.advance(timedelta(days=30))
    token, version = store.state_token(), store.load().version
    new_id = store.rotate(grace=GRACE)
    assert new_id > old_id
    assert store.state_token() != token
    ring = store.load()
    assert ring.version != version
    assert ring.current.key_id == new_id
    assert [k.key_id for k in ring.previous] == [old_id]
    assert ring.previous[0].valid_until == clock.now() + GRACE
    assert [k["kid"] for k in ring.jwks()["keys"]] == [
        jwk_thumbprint(ring.current.public_key),
        jwk_thumbprint(old.public_key),
    ]
    assert load_certificates(ring.bundle_pem()) == [ring.current.certificate, old.certificate]

    clock.advance(GRACE - timedelta(seconds=1))
    assert len(store.load().previous) == 1
    clock.advance(timedelta(seconds=1))
    ring = store.load()
    assert ring.previous == ()
    assert len(ring.jwks()["keys"]) == 1
    assert load_certificates(ring.bundle_pem()) == [ring.current.certificate]
    assert not (store.directory / "signing" / f"{old_id}.key").exists()
    assert not (store.directory / "signing" / f"{old_id}.crt").exists()
    assert json.loads((store.directory / "keyring.json").read_text())["retired"] == []


def test_rotation_in_ca_mode_leaves_bundle_unchanged(store: KeyStore, clock: FrozenClock) -> None:
    store.create_ca(Algorithm.ES256)
    store.generate(Algorithm.ES256)
    bundle = store.load().bundle_pem()
    clock.advance(timedelta(hours=1))
    store.rotate(grace=GRACE)
    ring = store.load()
    assert ring.bundle_pem() == bundle
    assert len(ring.previous) == 1
    assert all(len(key.x5c) == 2 for key in ring.verifying())
    assert len(ring.jwks()["keys"]) == 2


def test_rotate_keeps_algorithm(store: KeyStore, clock: FrozenClock) -> None:
    store.generate(Algorithm.RS384, common_name="custom signer")
    clock.advance(timedelta(minutes=1))
    store.rotate(grace=GRACE)
    ring = store.load()
    assert ring.current.alg is Algorithm.RS384
    assert ring.previous[0].alg is Algorithm.RS384
    assert ring.current.certificate.subject.rfc4514_string() == "CN=custom signer"


def test_rotate_if_due_rotates_once_per_tick(store: KeyStore, clock: FrozenClock) -> None:
    first = store.generate(Algorithm.ES256)
    clock.advance(timedelta(days=1, seconds=3))
    due = clock.now() - timedelta(seconds=3)  # the cron tick, seen a little late
    assert store.rotate_if_due(due, grace=GRACE)
    assert not store.rotate_if_due(due, grace=GRACE)
    ring = store.load()
    assert [k.key_id for k in ring.previous] == [first]


def test_rotate_if_due_is_exclusive_across_stores(
    tmp_path: Path, store: KeyStore, clock: FrozenClock
) -> None:
    store.generate(Algorithm.ES256)
    clock.advance(timedelta(days=1))
    due = clock.now()
    results: list[bool] = []
    barrier = threading.Barrier(4)

    def tick() -> None:
        peer = KeyStore(store.directory, clock)
        barrier.wait()
        results.append(peer.rotate_if_due(due, grace=GRACE))

    threads = [threading.Thread(target=tick) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, False, False, True]
    assert len(store.load().previous) == 1


def test_file_modes(store: KeyStore, clock: FrozenClock) -> None:
    store.create_ca(Algorithm.ES256)
    key_id = store.generate(Algorithm.ES256)
    directory = store.directory

    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    assert mode(directory) == 0o700
    assert mode(directory / "signing") == 0o700
    assert mode(directory / "ca.key") == 0o600
    assert mode(directory / "signing" / f"{key_id}.key") == 0o600
    assert not list(directory.rglob("*.tmp"))
    state = json.loads((directory / "keyring.json").read_text())
    assert state["current"] == key_id
    assert state["ca"] is True


def test_passphrase_store_round_trip(tmp_path: Path, clock: FrozenClock) -> None:
    store = KeyStore(tmp_path / "keys", clock, passphrase=PASSPHRASE)
    store.create_ca(Algorithm.ES256)
    key_id = store.generate(Algorithm.ES256)
    for path in (store.directory / "ca.key", store.directory / "signing" / f"{key_id}.key"):
        assert path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert store.load().current.key_id == key_id
    store.rotate(grace=GRACE)  # signs with the encrypted CA key
    with pytest.raises(ConfigError, match="passphrase is required"):
        KeyStore(store.directory, clock).load()
    with pytest.raises(ConfigError, match="wrong passphrase") as caught:
        KeyStore(store.directory, clock, passphrase=b"guess").load()
    assert "guess" not in str(caught.value)
    with pytest.raises(ConfigError, match="empty"):
        KeyStore(store.directory, clock, passphrase=b"")


def test_import_pem_with_certificate(
    store: KeyStore, clock: FrozenClock, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    cert = make_leaf(ec_key, "operator cert", T0, 30)
    store.import_key(_pem(ec_key, None), cert_data=cert.public_bytes(PEM))
    ring = store.load()
    assert ring.current.certificate == cert
    assert ring.current.alg is Algorithm.ES256


def test_import_encrypted_pem_without_certificate_in_ca_mode(
    store: KeyStore, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    ca = store.create_ca(Algorithm.ES256)
    store.import_key(_pem(ec_key, b"import pass"), passphrase=b"import pass")
    ring = store.load()
    assert ring.current.public_key.public_numbers() == ec_key.public_key().public_numbers()
    ring.current.certificate.verify_directly_issued_by(ca)
    # The stored copy is re-encrypted with the store's passphrase (none here).
    stored = store.directory / "signing" / f"{ring.current.key_id}.key"
    assert stored.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")


def test_import_wrong_passphrase(store: KeyStore, ec_key: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(ConfigError, match="wrong passphrase") as caught:
        store.import_key(_pem(ec_key, b"right one"), passphrase=b"wrong one")
    assert "wrong one" not in str(caught.value)
    assert "right one" not in str(caught.value)
    assert not store.exists()


def test_import_pkcs12(store: KeyStore, clock: FrozenClock, rsa_key: rsa.RSAPrivateKey) -> None:
    old_id = store.generate(Algorithm.ES256)
    cert = make_leaf(rsa_key, "pfx signer", T0, 30)
    bundle = pkcs12.serialize_key_and_certificates(
        b"pfx", rsa_key, cert, None, serialization.BestAvailableEncryption(b"pfx pass")
    )
    store.import_key(bundle, pkcs12=True, passphrase=b"pfx pass", alg=Algorithm.RS512)
    ring = store.load()
    assert ring.current.certificate == cert
    assert ring.current.alg is Algorithm.RS512
    assert [k.key_id for k in ring.previous] == [old_id]


def test_import_rejects_mismatched_certificate(
    store: KeyStore, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    other = make_leaf(ec.generate_private_key(ec.SECP256R1()), "other", T0, 30)
    with pytest.raises(ConfigError, match="does not match"):
        store.import_key(_pem(ec_key, None), cert_data=other.public_bytes(PEM))


def test_import_rejects_algorithm_mismatch(
    store: KeyStore, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    with pytest.raises(ConfigError, match="secp384r1"):
        store.import_key(_pem(ec_key, None), alg=Algorithm.ES384)


def test_import_rejects_expired_certificate(
    store: KeyStore, clock: FrozenClock, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    cert = make_leaf(ec_key, "old", T0 - timedelta(days=400), 30)
    with pytest.raises(ConfigError, match="expired"):
        store.import_key(_pem(ec_key, None), cert_data=cert.public_bytes(PEM))


def test_rfc7638_kid_mode(store: KeyStore) -> None:
    store.generate(Algorithm.ES512)
    current = store.load("rfc7638").current
    assert current.kid == jwk_thumbprint(current.public_key)


@pytest.mark.parametrize(
    "document",
    [
        b"not json",
        b"[]",
        b'{"current": "../../etc/passwd"}',
        b'{"current": "k", "retired": [{"id": "r"}]}',
        b'{"current": "k", "ca": "yes"}',
        b'{"current": "k", "current_alg": "HS256"}',
    ],
)
def test_malformed_keyring_json(store: KeyStore, document: bytes) -> None:
    store.generate(Algorithm.ES256)
    (store.directory / "keyring.json").write_bytes(document)
    with pytest.raises(ConfigError, match="malformed"):
        store.load()


def test_missing_key_file_is_a_config_error(store: KeyStore) -> None:
    key_id = store.generate(Algorithm.ES256)
    (store.directory / "signing" / f"{key_id}.crt").unlink()
    with pytest.raises(ConfigError, match="cannot read"):
        store.load()
