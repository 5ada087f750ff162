"""TokenSigner: every algorithm signs tokens a registry can verify from the x5c header."""

from __future__ import annotations

import base64
import time
from datetime import timedelta
from pathlib import Path

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from regauth.keys import Algorithm, Keyring, KeyStore, TokenSigner
from regauth.keys.certs import certificate_public_key
from regauth.keys.signer import _signature_function
from tests.keys.conftest import FrozenClock

SIGNATURE_BYTES = {Algorithm.ES256: 64, Algorithm.ES384: 96, Algorithm.ES512: 132}


def _claims(audience: str = "registry.test") -> dict[str, object]:
    now = int(time.time())
    return {
        "iss": "regauth",
        "sub": "alice",
        "aud": audience,
        "exp": now + 300,
        "nbf": now,
        "iat": now,
        "jti": "abc123",
        "access": [{"type": "repository", "name": "team/app", "actions": ["pull"]}],
    }


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


@pytest.fixture(scope="module", params=list(Algorithm), ids=str)
def keyring(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Keyring:
    alg: Algorithm = request.param
    store = KeyStore(tmp_path_factory.mktemp("keys"), FrozenClock())
    store.generate(alg)
    return store.load()


def test_sign_and_verify_from_x5c(keyring: Keyring) -> None:
    signer = TokenSigner(keyring)
    claims = _claims()
    token = signer.sign(claims)
    header = jwt.get_unverified_header(token)
    assert header == {
        "alg": keyring.current.alg.value,
        "typ": "JWT",
        "kid": keyring.current.kid,
        "x5c": list(keyring.current.x5c),
    }
    # A registry's view: the certificate in x5c[0] (standard base64 DER) verifies the token.
    leaf = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
    decoded = jwt.decode(
        token,
        certificate_public_key(leaf),
        algorithms=[header["alg"]],
        audience="registry.test",
    )
    assert decoded == claims
    assert signer.verify(token, "registry.test", "regauth") == claims
    expected = SIGNATURE_BYTES.get(keyring.current.alg, 256)
    assert len(_b64decode(token.rsplit(".", 1)[1])) == expected  # raw r||s for ES


def test_verify_rejects_wrong_audience_and_unknown_kid(keyring: Keyring) -> None:
    signer = TokenSigner(keyring)
    with pytest.raises(jwt.InvalidAudienceError):
        signer.verify(signer.sign(_claims("other")), "registry.test", "regauth")
    forged = jwt.encode(_claims(), keyring.current.private_key, algorithm=keyring.current.alg.value)
    with pytest.raises(jwt.InvalidTokenError, match="no verifying key"):
        signer.verify(forged, "registry.test", "regauth")


@pytest.fixture
def ca_store(tmp_path: Path) -> tuple[KeyStore, FrozenClock]:
    clock = FrozenClock()
    store = KeyStore(tmp_path / "keys", clock)
    store.create_ca(Algorithm.ES256)
    store.generate(Algorithm.ES256)
    return store, clock


def test_ca_chain_in_header_and_old_tokens_verify_after_rotation(
    ca_store: tuple[KeyStore, FrozenClock],
) -> None:
    store, clock = ca_store
    old_signer = TokenSigner(store.load())
    token = old_signer.sign(_claims())
    x5c = jwt.get_unverified_header(token)["x5c"]
    assert len(x5c) == 2
    leaf, ca = (x509.load_der_x509_certificate(base64.b64decode(c)) for c in x5c)
    leaf.verify_directly_issued_by(ca)
    assert ca == store.load().ca

    clock.advance(timedelta(hours=1))
    store.rotate(grace=timedelta(minutes=6))
    new_signer = TokenSigner(store.load())
    assert new_signer.verify(token, "registry.test", "regauth")["sub"] == "alice"
    new_token = new_signer.sign(_claims())
    assert jwt.get_unverified_header(new_token)["kid"] != old_signer.keyring.current.kid
    clock.advance(timedelta(minutes=6))
    with pytest.raises(jwt.InvalidTokenError, match="no verifying key"):
        TokenSigner(store.load()).verify(token, "registry.test", "regauth")


@pytest.mark.parametrize("alg", [a for a in Algorithm if a.is_ec], ids=str)
def test_every_es_signature_is_raw_r_s_of_the_curve_size(alg: Algorithm, tmp_path: Path) -> None:
    """r and s are left-padded to the curve size (a short r or s is common in 300 signatures)."""
    store = KeyStore(tmp_path, FrozenClock())
    store.generate(alg)
    keyring = store.load()
    signer = TokenSigner(keyring)
    public = keyring.current.public_key
    size = SIGNATURE_BYTES[keyring.current.alg] // 2
    assert isinstance(public, ec.EllipticCurvePublicKey)
    for n in range(300):
        token = signer.sign({**_claims(), "jti": str(n)})
        signing_input, _, signature = token.rpartition(".")
        raw = _b64decode(signature)
        assert len(raw) == 2 * size
        r, s = int.from_bytes(raw[:size], "big"), int.from_bytes(raw[size:], "big")
        hash_object = {32: hashes.SHA256(), 48: hashes.SHA384(), 66: hashes.SHA512()}[size]
        # raises InvalidSignature when wrong
        public.verify(encode_dss_signature(r, s), signing_input.encode(), ec.ECDSA(hash_object))


def test_a_key_that_does_not_fit_the_algorithm_is_refused(keyring: Keyring) -> None:
    other = "RS256" if keyring.current.alg.is_ec else "ES256"
    with pytest.raises(ValueError, match="cannot sign"):
        _signature_function(keyring.current.private_key, other)
