"""Key identifiers: libtrust kid and RFC 7638 thumbprint known answers, JWK shapes."""

from __future__ import annotations

import base64
import json
import re

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from regauth.keys import jwk_thumbprint, kid_for, libtrust_kid, public_jwk

# SPEC §1: verified against Distribution's libtrust.
LIBTRUST_SCALAR_1 = "LTJF:F6YM:5CJS:INX2:7DGN:CBAJ:QG4J:5ZFN:NOP6:TYVC:W7TR:VLFS"

# RFC 7638 §3.1.
RFC7638_N = (
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc"
    "_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQ"
    "R0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bF"
    "TWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
)
RFC7638_E = "AQAB"
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"

LIBTRUST_FORMAT = re.compile(r"[A-Z2-7]{4}(:[A-Z2-7]{4}){11}")


def _b64url_int(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


def _rfc7638_key() -> rsa.RSAPublicKey:
    return rsa.RSAPublicNumbers(_b64url_int(RFC7638_E), _b64url_int(RFC7638_N)).public_key()


def test_libtrust_kid_known_answer() -> None:
    key = ec.derive_private_key(1, ec.SECP256R1())
    assert libtrust_kid(key.public_key()) == LIBTRUST_SCALAR_1
    assert kid_for(key.public_key(), "libtrust") == LIBTRUST_SCALAR_1


def test_rfc7638_thumbprint_known_answer() -> None:
    key = _rfc7638_key()
    assert public_jwk(key) == {"kty": "RSA", "n": RFC7638_N, "e": RFC7638_E}
    assert jwk_thumbprint(key) == RFC7638_THUMBPRINT
    assert kid_for(key, "rfc7638") == RFC7638_THUMBPRINT


@pytest.mark.parametrize(
    ("curve", "crv", "coordinate_chars"),
    [
        (ec.SECP256R1(), "P-256", 43),
        (ec.SECP384R1(), "P-384", 64),
        (ec.SECP521R1(), "P-521", 88),
    ],
)
def test_ec_jwk_pads_coordinates(curve: ec.EllipticCurve, crv: str, coordinate_chars: int) -> None:
    size = (curve.key_size + 7) // 8
    # The first scalar whose x coordinate has a leading zero byte: padding must keep it.
    public = next(
        key
        for scalar in range(1, 5000)
        if (key := ec.derive_private_key(scalar, curve).public_key()).public_numbers().x
        < 1 << (8 * (size - 1))
    )
    jwk = public_jwk(public)
    assert jwk["kty"] == "EC"
    assert jwk["crv"] == crv
    assert len(jwk["x"]) == len(jwk["y"]) == coordinate_chars
    assert "=" not in jwk["x"] + jwk["y"]
    parsed = ECAlgorithm.from_jwk(json.dumps(jwk))
    assert isinstance(parsed, ec.EllipticCurvePublicKey)
    assert parsed.public_numbers() == public.public_numbers()
    assert LIBTRUST_FORMAT.fullmatch(libtrust_kid(public))


def test_rsa_jwk_round_trips(rsa_key: rsa.RSAPrivateKey) -> None:
    jwk = public_jwk(rsa_key.public_key())
    assert set(jwk) == {"kty", "n", "e"}
    assert jwk["e"] == "AQAB"
    parsed = RSAAlgorithm.from_jwk(json.dumps(jwk))
    assert isinstance(parsed, rsa.RSAPublicKey)
    assert parsed.public_numbers() == rsa_key.public_key().public_numbers()
    assert LIBTRUST_FORMAT.fullmatch(libtrust_kid(rsa_key.public_key()))


def test_thumbprint_ignores_optional_members(ec_key: ec.EllipticCurvePrivateKey) -> None:
    public = ec_key.public_key()
    thumbprint = jwk_thumbprint(public)
    assert len(thumbprint) == 43
    assert thumbprint != jwk_thumbprint(ec.generate_private_key(ec.SECP256R1()).public_key())
    assert kid_for(public, "rfc7638") == thumbprint
    assert kid_for(public, "libtrust") == libtrust_kid(public)
