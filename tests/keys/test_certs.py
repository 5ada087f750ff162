"""Certificates: CA and leaf profiles, and loading keys/certificates in every format."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from regauth.errors import ConfigError
from regauth.keys import (
    Algorithm,
    generate_private_key,
    load_certificates,
    load_pkcs12,
    load_private_key,
    make_ca,
    make_leaf,
)
from regauth.keys.algorithms import PrivateKey
from tests.keys.conftest import T0

PASSPHRASE = b"correct horse battery staple"
Enc = serialization.Encoding
Fmt = serialization.PrivateFormat


def _same_key(a: PrivateKey, b: PrivateKey) -> bool:
    return a.private_numbers() == b.private_numbers()


def test_ca_profile(ec_key: ec.EllipticCurvePrivateKey) -> None:
    ca = make_ca(ec_key, "test CA", T0, 3650)
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca is True
    assert constraints.value.path_length == 0
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign
    assert usage.crl_sign
    assert not usage.digital_signature
    ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    ca.verify_directly_issued_by(ca)
    assert ca.not_valid_after_utc == T0 + timedelta(days=3650)


def test_self_signed_leaf_profile(ec_key: ec.EllipticCurvePrivateKey) -> None:
    leaf = make_leaf(ec_key, "signer", T0, 90)
    assert leaf.issuer == leaf.subject
    leaf.verify_directly_issued_by(leaf)
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature
    assert not usage.key_cert_sign
    assert leaf.not_valid_before_utc == T0 - timedelta(minutes=5)
    assert leaf.not_valid_after_utc == T0 + timedelta(days=90)
    with pytest.raises(x509.ExtensionNotFound):
        leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage)


def test_ca_signed_leaf(ec_key: ec.EllipticCurvePrivateKey) -> None:
    ca_key = generate_private_key(Algorithm.ES384)
    ca = make_ca(ca_key, "test CA", T0, 30)
    leaf = make_leaf(ec_key, "signer", T0, 90, ca_key, ca)
    leaf.verify_directly_issued_by(ca)
    assert leaf.issuer == ca.subject
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert leaf.not_valid_after_utc == ca.not_valid_after_utc  # clipped to the CA
    assert leaf.serial_number != ca.serial_number
    assert leaf.signature_hash_algorithm is not None
    assert leaf.signature_hash_algorithm.name == "sha384"  # the CA's key decides


@pytest.mark.parametrize(
    ("alg", "hash_name"),
    [(Algorithm.ES256, "sha256"), (Algorithm.ES384, "sha384"), (Algorithm.ES512, "sha512")],
)
def test_signature_hash_follows_curve(alg: Algorithm, hash_name: str) -> None:
    cert = make_leaf(generate_private_key(alg), "signer", T0, 1)
    assert cert.signature_hash_algorithm is not None
    assert cert.signature_hash_algorithm.name == hash_name


def test_rsa_certificates_use_sha256(rsa_key: rsa.RSAPrivateKey) -> None:
    cert = make_ca(rsa_key, "rsa CA", T0, 1)
    assert cert.signature_hash_algorithm is not None
    assert cert.signature_hash_algorithm.name == "sha256"


def test_load_certificates_pem_bundle_and_der(ec_key: ec.EllipticCurvePrivateKey) -> None:
    first = make_leaf(ec_key, "one", T0, 1)
    second = make_ca(ec_key, "two", T0, 1)
    bundle = first.public_bytes(Enc.PEM) + second.public_bytes(Enc.PEM)
    assert load_certificates(bundle) == [first, second]
    assert load_certificates(first.public_bytes(Enc.DER)) == [first]


@pytest.mark.parametrize("data", [b"", b"garbage", b"-----BEGIN CERTIFICATE-----\nxx\n"])
def test_load_certificates_rejects_garbage(data: bytes) -> None:
    with pytest.raises(ConfigError, match="certificate"):
        load_certificates(data)


KEY_FORMATS = [
    (Enc.PEM, Fmt.PKCS8, False),
    (Enc.PEM, Fmt.TraditionalOpenSSL, False),
    (Enc.DER, Fmt.PKCS8, False),
    (Enc.DER, Fmt.TraditionalOpenSSL, False),
    (Enc.PEM, Fmt.PKCS8, True),
    (Enc.PEM, Fmt.TraditionalOpenSSL, True),
    (Enc.DER, Fmt.PKCS8, True),
]


def _dump(key: PrivateKey, encoding: Enc, fmt: Fmt, encrypted: bool) -> bytes:
    encryption: serialization.KeySerializationEncryption = serialization.NoEncryption()
    if encrypted:
        encryption = serialization.BestAvailableEncryption(PASSPHRASE)
    return key.private_bytes(encoding, fmt, encryption)


@pytest.mark.parametrize(("encoding", "fmt", "encrypted"), KEY_FORMATS)
@pytest.mark.parametrize("key_type", ["ec", "rsa"])
def test_load_private_key_formats(
    encoding: Enc,
    fmt: Fmt,
    encrypted: bool,
    key_type: str,
    ec_key: ec.EllipticCurvePrivateKey,
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    key: PrivateKey = ec_key if key_type == "ec" else rsa_key
    data = _dump(key, encoding, fmt, encrypted)
    loaded = load_private_key(data, PASSPHRASE if encrypted else None)
    assert _same_key(loaded, key)


@pytest.mark.parametrize(
    ("encoding", "fmt"),
    [(Enc.PEM, Fmt.PKCS8), (Enc.PEM, Fmt.TraditionalOpenSSL), (Enc.DER, Fmt.PKCS8)],
)
def test_wrong_passphrase_never_echoes_it(
    encoding: Enc, fmt: Fmt, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    data = _dump(ec_key, encoding, fmt, encrypted=True)
    wrong = b"hunter2-not-the-passphrase"
    with pytest.raises(ConfigError, match="passphrase") as caught:
        load_private_key(data, wrong)
    text = str(caught.value) + repr(caught.value)
    assert wrong.decode() not in text
    assert PASSPHRASE.decode() not in text
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_missing_passphrase(ec_key: ec.EllipticCurvePrivateKey) -> None:
    data = _dump(ec_key, Enc.PEM, Fmt.PKCS8, encrypted=True)
    with pytest.raises(ConfigError, match="passphrase is required"):
        load_private_key(data, None)


def test_passphrase_for_plain_key_is_ignored(ec_key: ec.EllipticCurvePrivateKey) -> None:
    data = _dump(ec_key, Enc.PEM, Fmt.PKCS8, encrypted=False)
    assert _same_key(load_private_key(data, PASSPHRASE), ec_key)


def test_key_found_in_combined_pem(ec_key: ec.EllipticCurvePrivateKey) -> None:
    cert = make_leaf(ec_key, "signer", T0, 1)
    data = cert.public_bytes(Enc.PEM) + _dump(ec_key, Enc.PEM, Fmt.TraditionalOpenSSL, False)
    assert _same_key(load_private_key(data), ec_key)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n", "no PEM private key"),
        (b"\x30\x03\x02\x01\x00", "cannot decrypt or parse"),
        (
            ed25519.Ed25519PrivateKey.generate().private_bytes(
                Enc.PEM, Fmt.PKCS8, serialization.NoEncryption()
            ),
            "only EC",
        ),
    ],
    ids=["cert-only", "bad-der", "ed25519"],
)
def test_load_private_key_rejects(data: bytes, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_private_key(data)


def test_pkcs12_round_trip(ec_key: ec.EllipticCurvePrivateKey) -> None:
    ca_key = generate_private_key(Algorithm.ES256)
    ca = make_ca(ca_key, "CA", T0, 10)
    leaf = make_leaf(ec_key, "signer", T0, 5, ca_key, ca)
    bundle = pkcs12.serialize_key_and_certificates(
        b"signer", ec_key, leaf, [ca], serialization.BestAvailableEncryption(PASSPHRASE)
    )
    key, cert, extra = load_pkcs12(bundle, PASSPHRASE)
    assert _same_key(key, ec_key)
    assert cert == leaf
    assert extra == [ca]
    with pytest.raises(ConfigError, match="PKCS#12") as caught:
        load_pkcs12(bundle, b"wrong")
    assert "wrong" not in str(caught.value).replace("wrong or missing", "")
