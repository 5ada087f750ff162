"""Algorithms: key generation per algorithm and the key/algorithm pairing rules."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from regauth.errors import ConfigError
from regauth.keys import Algorithm, algorithm_for_key, check_key_matches, generate_private_key
from regauth.keys.algorithms import PrivateKey

EC_CURVES = [
    (Algorithm.ES256, "secp256r1"),
    (Algorithm.ES384, "secp384r1"),
    (Algorithm.ES512, "secp521r1"),
]


@pytest.mark.parametrize(("alg", "curve"), EC_CURVES)
def test_generate_ec_uses_the_algorithms_curve(alg: Algorithm, curve: str) -> None:
    key = generate_private_key(alg)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.curve.name == curve
    check_key_matches(alg, key)
    assert algorithm_for_key(key) is alg
    assert algorithm_for_key(key.public_key()) is alg


def test_generate_rsa(rsa_key: rsa.RSAPrivateKey) -> None:
    key = generate_private_key(Algorithm.RS384)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == 2048
    for alg in (Algorithm.RS256, Algorithm.RS384, Algorithm.RS512):
        check_key_matches(alg, rsa_key)
    assert algorithm_for_key(rsa_key) is Algorithm.RS256


def test_generate_refuses_short_rsa() -> None:
    with pytest.raises(ConfigError, match="2048"):
        generate_private_key(Algorithm.RS256, rsa_bits=1024)


def _weak_rsa() -> rsa.RSAPrivateKey:
    # Deliberately too short: fast to make, and must be refused.
    return rsa.generate_private_key(65537, 1024)  # noqa: S505


P256 = ec.SECP256R1()
P384 = ec.SECP384R1()
P521 = ec.SECP521R1()


@pytest.mark.parametrize(
    ("alg", "make_key", "message"),
    [
        (Algorithm.ES256, lambda: ec.generate_private_key(P384), "secp256r1"),
        (Algorithm.ES384, lambda: ec.generate_private_key(P256), "secp384r1"),
        (Algorithm.ES512, lambda: ec.generate_private_key(P256), "secp521r1"),
        (Algorithm.RS256, lambda: ec.generate_private_key(P256), "RSA"),
        (Algorithm.ES256, _weak_rsa, "is RSA"),
        (Algorithm.RS256, _weak_rsa, "2048"),
        (Algorithm.ES256, lambda: ec.generate_private_key(ec.SECP256K1()), "secp256k1"),
    ],
    ids=["ES256-P384", "ES384-P256", "ES512-P256", "RS256-EC", "ES256-RSA", "RSA1024", "K256"],
)
def test_check_key_matches_rejects(
    alg: Algorithm, make_key: Callable[[], PrivateKey], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        check_key_matches(alg, make_key())


def test_algorithm_for_key_rejects_unknown_curve() -> None:
    with pytest.raises(ConfigError, match="unsupported curve"):
        algorithm_for_key(ec.generate_private_key(ec.SECP256K1()))


def test_algorithm_values_are_jws_names() -> None:
    assert [str(alg) for alg in Algorithm] == [
        "ES256",
        "ES384",
        "ES512",
        "RS256",
        "RS384",
        "RS512",
    ]
