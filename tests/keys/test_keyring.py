"""Keyring values: no key material in repr, JWKS shape, bundle contents."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from regauth.keys import Algorithm, Keyring, KeyStore, jwk_thumbprint
from tests.keys.conftest import FrozenClock


@pytest.fixture(scope="module", params=[Algorithm.ES256, Algorithm.RS256], ids=str)
def keyring(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Keyring:
    store = KeyStore(tmp_path_factory.mktemp("keys"), FrozenClock())
    store.generate(request.param)
    return store.load()


def test_repr_shows_no_key_material(keyring: Keyring) -> None:
    key = keyring.current
    text = repr(key) + repr(keyring) + str(key)
    assert "private_key" not in text
    private = key.private_key
    if isinstance(private, ec.EllipticCurvePrivateKey):
        secrets = [private.private_numbers().private_value]
    else:
        assert isinstance(private, rsa.RSAPrivateKey)
        numbers = private.private_numbers()
        secrets = [numbers.d, numbers.p, numbers.q]
    for value in secrets:
        assert str(value) not in text
        assert f"{value:x}" not in text
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    body = "".join(pem.splitlines()[1:-1])
    assert body[:40] not in text.replace("\n", "")


def test_jwks_shape(keyring: Keyring) -> None:
    (entry,) = keyring.jwks()["keys"]
    assert entry["kid"] == jwk_thumbprint(keyring.current.public_key)
    assert entry["alg"] == keyring.current.alg.value
    assert entry["use"] == "sig"
    assert entry["x5c"] == list(keyring.current.x5c)
    assert "d" not in entry
    json.dumps(keyring.jwks())  # serialisable as is


def test_x5c_is_standard_base64_der(keyring: Keyring) -> None:
    der = keyring.current.certificate.public_bytes(serialization.Encoding.DER)
    assert keyring.current.x5c[0] == base64.b64encode(der).decode()


def test_verifying_lists_current_first(tmp_path: Path) -> None:
    store = KeyStore(tmp_path, FrozenClock())
    store.generate(Algorithm.ES256)
    store.rotate(grace=timedelta(minutes=1))
    ring = store.load()
    assert ring.verifying()[0] is ring.current
    assert ring.verifying()[1:] == ring.previous
